// Run an edgeprep ONNX artifact on a JSON feed with onnxruntime-node or onnxruntime-web.
//
// One harness for both clients: `runFeed(ort, model, feed)` takes the onnxruntime module (node or
// web), the model (a path in Node, bytes in the browser) and a feed written by
// tests/clients/feeds.py, and returns the outputs in the same encoding. It only runs the session;
// the Python side compares the outputs with the golden ones (edgeprep.runtime.compare).
//
// Feed: {"batches": [{"<input name>": TENSOR, ...}, ...]}, outputs: {"batches": [{"<output>": TENSOR}]}
// TENSOR: {"dtype": "float32", "dims": [1, 28, 28, 1], "data": "<base64 of little-endian bytes>"}
//         or, for strings, {"dtype": "string", "dims": [3, 1], "data": ["red", "Grün", "blue"]}
//         with "encoding": "utf8-bytes" when the artifact takes the strings as UTF-8 bytes (manifest
//         input "encoding"): encoded here with TextEncoder to uint8 [...dims, N], zero padded
//
// Node: node tests/clients/run_onnx.mjs model.onnx feed.json outputs.json

const ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

function decodeBytes(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function encodeBytes(bytes) {
  let text = "";
  for (let start = 0; start < bytes.length; start += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(start, start + 0x8000));
  }
  return btoa(text);
}

/** Strings as the artifact's UTF-8 bytes input: uint8 [...dims, N], zero padded (edgeprep.runtime.text). */
export function utf8Tensor(ort, texts, dims) {
  const encoder = new TextEncoder();
  const rows = texts.map((text) => encoder.encode(text));
  for (const [index, row] of rows.entries()) {
    if (row.length && row[row.length - 1] === 0) {
      throw new Error(`run_onnx: string ${index} ends with a NUL byte, which the zero-padded UTF-8 input cannot carry`);
    }
  }
  const width = Math.max(0, ...rows.map((row) => row.length));
  const data = new Uint8Array(rows.length * width);
  rows.forEach((row, index) => data.set(row, index * width));
  return new ort.Tensor("uint8", data, [...dims, width]);
}

/** An ort.Tensor from one encoded feed tensor. */
export function decodeTensor(ort, tensor) {
  if (tensor.dtype === "string" && tensor.encoding === "utf8-bytes") {
    return utf8Tensor(ort, tensor.data, tensor.dims);
  }
  if (tensor.dtype === "string") {
    return new ort.Tensor("string", tensor.data, tensor.dims);
  }
  const TypedArray = ARRAYS[tensor.dtype];
  if (!TypedArray) {
    throw new Error(`run_onnx: unsupported dtype ${tensor.dtype}`);
  }
  return new ort.Tensor(tensor.dtype, new TypedArray(decodeBytes(tensor.data).buffer), tensor.dims);
}

/** The JSON encoding of one ort.Tensor (the inverse of decodeTensor). */
export function encodeTensor(tensor) {
  const dims = Array.from(tensor.dims, Number);
  if (tensor.type === "string") {
    return { dtype: "string", dims, data: Array.from(tensor.data) };
  }
  const data = tensor.data;
  return { dtype: tensor.type, dims, data: encodeBytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) };
}

/** Run every batch of ``feed`` through one session; returns {"batches": [...], "backend": ...}. */
export async function runFeed(ort, model, feed, options = {}) {
  const session = await ort.InferenceSession.create(model, options);
  const batches = [];
  for (const batch of feed.batches) {
    const inputs = {};
    for (const name of session.inputNames) {
      if (!(name in batch)) {
        throw new Error(`run_onnx: the feed has no input ${JSON.stringify(name)} (it has ${Object.keys(batch).join(", ")})`);
      }
      inputs[name] = decodeTensor(ort, batch[name]);
    }
    const results = await session.run(inputs);
    batches.push(Object.fromEntries(session.outputNames.map((name) => [name, encodeTensor(results[name])])));
  }
  await session.release?.();
  return { batches, inputs: session.inputNames, outputs: session.outputNames };
}

async function main(argv) {
  const [modelPath, feedPath, outPath] = argv;
  if (!outPath) {
    throw new Error("usage: node run_onnx.mjs model.onnx feed.json outputs.json");
  }
  const { readFile, writeFile } = await import("node:fs/promises");
  const ort = await import("onnxruntime-node");
  const feed = JSON.parse(await readFile(feedPath, "utf8"));
  const result = await runFeed(ort, modelPath, feed, { executionProviders: ["cpu"], intraOpNumThreads: 1 });
  await writeFile(outPath, JSON.stringify({ ...result, client: `onnxruntime-node ${ort.env.versions?.node ?? ""}`.trim() }));
}

const isNodeMain = typeof process !== "undefined" && process.versions?.node && process.argv[1]
  && import.meta.url === (await import("node:url")).pathToFileURL(process.argv[1]).href;
if (isNodeMain) {
  await main(process.argv.slice(2));
}
