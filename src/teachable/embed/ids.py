"""The backbones' ids (recorded in every model file) and their embedding sizes."""

IMAGE_BACKBONE = "efficientnet-lite0-imagenet-224-v1"
# Sound: speech_embedding (96) then YAMNet (1024), one vector; v1 (speech_embedding alone) is the
# backbone of sound models made before, which still load and predict.
SOUND_BACKBONE = "speech-embedding+yamnet-16k-1s-v2"
SOUND_BACKBONE_V1 = "speech-embedding-16k-1s-v1"
POSE_BACKBONE = "mediapipe-pose-full-v1"
HAND_BACKBONE = "mediapipe-hand-full-v1"
BACKBONE_DIMS = {IMAGE_BACKBONE: 1280, SOUND_BACKBONE: 96 + 1024, SOUND_BACKBONE_V1: 96, POSE_BACKBONE: 99,
                 HAND_BACKBONE: 64}
# Backbones whose vector is several networks' embeddings end to end: the size of each block, in order
# (the classifiers weigh the blocks per project: classify/blocks.py).
BACKBONE_BLOCKS = {SOUND_BACKBONE: (96, 1024)}
