"""The backbones' ids (recorded in every model file) and their embedding sizes."""

IMAGE_BACKBONE = "efficientnet-lite0-imagenet-224-v1"
SOUND_BACKBONE = "speech-embedding-16k-1s-v1"
POSE_BACKBONE = "mediapipe-pose-full-v1"
HAND_BACKBONE = "mediapipe-hand-full-v1"
BACKBONE_DIMS = {IMAGE_BACKBONE: 1280, SOUND_BACKBONE: 96, POSE_BACKBONE: 99, HAND_BACKBONE: 64}
