// Sound projects in the page: the microphone at 16 kHz, one-second clips as WAV, a live level
// meter and spectrogram, and a rolling one-second window for continuous listening.

export const RATE = 16000;
export const CLIP = RATE; // one second

// 16-bit PCM WAV bytes from float samples in [-1, 1].
export function wavBlob(samples) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, RATE, true); view.setUint32(28, RATE * 2, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + i * 2, v < 0 ? v * 0x8000 : v * 0x7fff, true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

// An open microphone: calls onSamples(Float32Array at 16 kHz) as audio arrives, and draws a
// level meter and a scrolling spectrogram on the given canvases.
export async function openMicrophone({ onSamples, meter, spectrogram }) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false }, video: false });
  const context = new AudioContext({ sampleRate: RATE });
  const source = context.createMediaStreamSource(stream);
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  const processor = context.createScriptProcessor(2048, 1, 1);
  processor.onaudioprocess = (event) => onSamples && onSamples(new Float32Array(event.inputBuffer.getChannelData(0)));
  source.connect(analyser);
  source.connect(processor);
  processor.connect(context.destination); // keeps the processor running; it outputs silence
  let frame = null;
  const bins = new Uint8Array(analyser.frequencyBinCount);
  const wave = new Float32Array(analyser.fftSize);
  function draw() {
    analyser.getFloatTimeDomainData(wave);
    let sum = 0;
    for (const v of wave) sum += v * v;
    const level = Math.min(1, Math.sqrt(sum / wave.length) * 6);
    if (meter) {
      meter.value = level;
      meter.textContent = `${Math.round(level * 100)}%`;
    }
    if (spectrogram) {
      const ctx = spectrogram.getContext("2d");
      const { width, height } = spectrogram;
      ctx.drawImage(spectrogram, -2, 0); // scroll left
      analyser.getByteFrequencyData(bins);
      for (let y = 0; y < height; y++) {
        const v = bins[Math.floor((1 - y / height) * bins.length * 0.8)] / 255;
        ctx.fillStyle = `rgb(${20 + v * 40}, ${30 + v * 140}, ${20 + v * 235})`;
        ctx.fillRect(width - 2, y, 2, 1);
      }
    }
    frame = requestAnimationFrame(draw);
  }
  draw();
  return {
    close() {
      cancelAnimationFrame(frame);
      processor.disconnect();
      source.disconnect();
      stream.getTracks().forEach((t) => t.stop());
      context.close();
    },
  };
}

// Collects incoming samples into consecutive one-second clips.
export class ClipCollector {
  constructor(onClip) { this.onClip = onClip; this.buffer = new Float32Array(CLIP); this.filled = 0; }
  push(samples) {
    let offset = 0;
    while (offset < samples.length) {
      const n = Math.min(CLIP - this.filled, samples.length - offset);
      this.buffer.set(samples.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === CLIP) { this.onClip(this.buffer.slice()); this.filled = 0; }
    }
  }
}

// The most recent second of sound, for continuous listening.
export class RollingWindow {
  constructor() { this.buffer = new Float32Array(CLIP); this.received = 0; }
  push(samples) {
    if (samples.length >= CLIP) { this.buffer.set(samples.subarray(samples.length - CLIP)); }
    else { this.buffer.copyWithin(0, samples.length); this.buffer.set(samples, CLIP - samples.length); }
    this.received += samples.length;
  }
  full() { return this.received >= CLIP; }
  snapshot() { return this.buffer.slice(); }
}
