#!/usr/bin/env node
// make_fixtures.js — reference outputs of the ORIGINAL TF.js models, for vrseg's fidelity tests.
//
// For every photo in testdata/ it
//   1. decodes the photo with the ffmpeg CLI to raw pixels (rgb24; grey photos are decoded as gray
//      and the grey value is replicated to R, G and B), so the pixels are FFmpeg's own decode;
//   2. resizes the photo to each model's input with tf.image.resizeBilinear(alignCorners=false,
//      halfPixelCenters=false) and divides by 255 (RGB in [0,1]: how @vladmandic/human feeds them);
//   3. runs selfie and meet with @tensorflow/tfjs (pure JS 'cpu' backend, float32);
//   4. writes, to testdata/fixtures/:
//        <model>_<photo>_input.f32  the input tensor, float32 little-endian, NHWC [1,H,W,3]
//        <model>_<photo>_prob.f32   person probability, float32 little-endian, NHWC [1,H,W,1]
//                                   (selfie: its output, already a sigmoid; meet: softmax over the
//                                   2 output channels, channel 1)
//        selfie_<photo>_mask.png    selfie probability resized to the photo size with
//                                   resizeBilinear(halfPixelCenters=true), value >= 0.5 -> 255,
//                                   else 0; 8-bit grey PNG (encoded with the ffmpeg CLI)
//        fixtures.json              shapes, statistics and provenance of every file
//
// Usage (from the repository root, after `npm install` in tools/tfjs):
//   node tools/tfjs/make_fixtures.js [--models models/tfjs] [--photos testdata] [--out testdata/fixtures]
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const {execFileSync} = require('child_process');
const tf = require('@tensorflow/tfjs');

const repoRoot = path.resolve(__dirname, '..', '..');
function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? path.resolve(process.argv[i + 1]) : dflt;
}
const modelDir = arg('--models', path.join(repoRoot, 'models', 'tfjs'));
const photoDir = arg('--photos', path.join(repoRoot, 'testdata'));
const outDir = arg('--out', path.join(repoRoot, 'testdata', 'fixtures'));

const PHOTOS = ['astronaut.png', 'camera.png', 'grace_hopper.jpg'];
const MODELS = [
  {name: 'selfie', json: 'selfie.json', height: 256, width: 256, kind: 'sigmoid_probability'},
  {name: 'meet', json: 'meet.json', height: 144, width: 256, kind: 'two_class_logits'},
];

function sha256(buf) { return crypto.createHash('sha256').update(buf).digest('hex'); }

// A TF.js IOHandler reading model.json and its shards from disk (tfjs without tfjs-node has none).
function fileHandler(jsonPath) {
  return {
    load: async () => {
      const j = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
      const specs = [];
      const bufs = [];
      for (const group of j.weightsManifest) {
        for (const p of group.paths) bufs.push(fs.readFileSync(path.join(path.dirname(jsonPath), p)));
        specs.push(...group.weights);
      }
      const all = Buffer.concat(bufs);
      return {
        modelTopology: j.modelTopology, format: j.format, generatedBy: j.generatedBy,
        convertedBy: j.convertedBy, signature: j.signature, weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      };
    },
  };
}

function probe(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'stream=width,height,pix_fmt', '-of', 'json', file]).toString();
  const s = JSON.parse(out).streams[0];
  return {width: s.width, height: s.height, pixFmt: s.pix_fmt};
}

// Returns {width, height, rgb: Uint8Array(H*W*3), command}.
function decodePhoto(file) {
  const {width, height, pixFmt} = probe(file);
  const grey = /^gray/.test(pixFmt) || /^ya/.test(pixFmt);
  const fmt = grey ? 'gray' : 'rgb24';
  const argv = ['-v', 'error', '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', fmt, '-'];
  const raw = execFileSync('ffmpeg', argv, {maxBuffer: 1 << 28});
  const n = width * height;
  if (raw.length !== n * (grey ? 1 : 3)) throw new Error(`${file}: ffmpeg gave ${raw.length} bytes`);
  let rgb;
  if (grey) {
    rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = raw[i];
  } else {
    rgb = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  }
  return {width, height, rgb, pixFmt, command: 'ffmpeg ' + argv.join(' ') + (grey ? ' (grey replicated to RGB)' : '')};
}

function writeF32(name, data) {
  const buf = Buffer.from(new Float32Array(data).buffer);
  fs.writeFileSync(path.join(outDir, name), buf);
  return buf;
}

function stats(a) {
  let min = Infinity, max = -Infinity, sum = 0;
  for (const v of a) { min = Math.min(min, v); max = Math.max(max, v); sum += v; }
  return {min, max, mean: sum / a.length};
}

function writeGreyPng(name, width, height, bytes) {
  const file = path.join(outDir, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s',
    `${width}x${height}`, '-i', '-', '-frames:v', '1', '-pix_fmt', 'gray', file], {input: Buffer.from(bytes)});
  return fs.readFileSync(file);
}

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  fs.mkdirSync(outDir, {recursive: true});
  const ffmpegVersion = execFileSync('ffmpeg', ['-version']).toString().split('\n')[0];
  const manifest = {
    generator: 'tools/tfjs/make_fixtures.js',
    tfjs: tf.version.tfjs, backend: tf.getBackend(), ffmpeg: ffmpegVersion,
    layout: 'NHWC, float32 little-endian, no header',
    input_preprocessing: 'ffmpeg decode -> tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false) -> /255, RGB',
    mask: 'selfie probability -> tf.image.resizeBilinear(photo size, alignCorners=false, halfPixelCenters=true) -> >= 0.5 ? 255 : 0',
    regenerate: 'cd tools/tfjs && npm install && cd ../.. && node tools/tfjs/make_fixtures.js',
    models: {}, photos: {}, files: {},
  };
  const photos = PHOTOS.map((p) => ({name: path.parse(p).name, file: p, ...decodePhoto(path.join(photoDir, p))}));
  for (const p of photos) {
    manifest.photos[p.name] = {file: p.file, width: p.width, height: p.height, pix_fmt: p.pixFmt,
      sha256: sha256(fs.readFileSync(path.join(photoDir, p.file))), decode: p.command};
  }
  for (const m of MODELS) {
    const jsonPath = path.join(modelDir, m.json);
    const model = await tf.loadGraphModel(fileHandler(jsonPath));
    manifest.models[m.name] = {json: m.json, sha256: sha256(fs.readFileSync(jsonPath)),
      input: [1, m.height, m.width, 3], kind: m.kind,
      inputs: model.inputs.map((t) => t.name), outputs: model.outputs.map((t) => t.name)};
    for (const p of photos) {
      const tag = `${m.name}_${p.name}`;
      const [input, prob] = tf.tidy(() => {
        const img = tf.tensor4d(p.rgb, [1, p.height, p.width, 3], 'int32').toFloat();
        const x = tf.image.resizeBilinear(img, [m.height, m.width], false, false).div(255);
        const y = model.predict(x);
        let pr;
        if (m.kind === 'sigmoid_probability') {
          pr = y;
        } else {
          pr = tf.softmax(y, -1).slice([0, 0, 0, 1], [-1, -1, -1, 1]);
        }
        return [x, pr];
      });
      if (input.shape.join() !== [1, m.height, m.width, 3].join()) throw new Error(`${tag}: input shape ${input.shape}`);
      if (prob.shape.join() !== [1, m.height, m.width, 1].join()) throw new Error(`${tag}: output shape ${prob.shape}`);
      const inData = input.dataSync();
      const prData = prob.dataSync();
      const inBuf = writeF32(`${tag}_input.f32`, inData);
      const prBuf = writeF32(`${tag}_prob.f32`, prData);
      manifest.files[`${tag}_input.f32`] = {model: m.name, photo: p.name, what: 'input', shape: input.shape,
        dtype: 'float32', sha256: sha256(inBuf), ...stats(inData)};
      manifest.files[`${tag}_prob.f32`] = {model: m.name, photo: p.name, what: 'person_probability',
        shape: prob.shape, dtype: 'float32', sha256: sha256(prBuf), ...stats(prData)};
      if (m.name === 'selfie') {
        const mask = tf.tidy(() => tf.image.resizeBilinear(prob, [p.height, p.width], false, true)
            .greaterEqual(0.5).toInt().mul(255));
        const bytes = Uint8Array.from(mask.dataSync());
        mask.dispose();
        let on = 0;
        for (const b of bytes) on += b ? 1 : 0;
        const png = writeGreyPng(`selfie_${p.name}_mask.png`, p.width, p.height, bytes);
        manifest.files[`selfie_${p.name}_mask.png`] = {model: 'selfie', photo: p.name, what: 'mask',
          shape: [p.height, p.width], dtype: 'gray8 PNG (0 or 255)', sha256: sha256(png),
          person_fraction: on / bytes.length};
      }
      console.log(`${tag}: prob min ${manifest.files[`${tag}_prob.f32`].min.toFixed(4)} max ` +
                  `${manifest.files[`${tag}_prob.f32`].max.toFixed(4)} mean ${manifest.files[`${tag}_prob.f32`].mean.toFixed(4)}`);
      input.dispose();
      prob.dispose();
    }
    model.dispose();
  }
  fs.writeFileSync(path.join(outDir, 'fixtures.json'), JSON.stringify(manifest, null, 2) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
