// edgeprep in the browser: classify an image or a token sequence with an exported ONNX model.
//
// Reads manifest.json (what the model takes and returns) and model.onnx from MODEL (default
// "model/", as serve.py serves an export; ?model=URL/ to change) and runs it with onnxruntime-web
// (WebAssembly, served from /ort/). The page reports its state in document.body.dataset.state and
// its last result in window.edgeprepResult (tests/clients/test_browser.py reads both).

import * as ort from "/ort/ort.wasm.min.mjs";

ort.env.wasm.wasmPaths = "/ort/";
ort.env.wasm.numThreads = 1;

const MODEL = new URLSearchParams(location.search).get("model") ?? "model/";
const $ = (id) => document.getElementById(id);

function setState(state, message) {
  document.body.dataset.state = state;
  if (message) $("status").textContent = message;
}

async function fetchOk(url, read) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${response.url}: HTTP ${response.status}`);
  return read(response);
}

/** The manifest entry of the ONNX artifact. */
function onnxArtifact(manifest) {
  const entry = manifest.artifacts.find((artifact) => artifact.target === "onnx");
  if (!entry) throw new Error("this export has no ONNX artifact: export with --target onnx");
  return entry;
}

/** Probabilities from an output row: kept when it already is a distribution, else softmax of logits. */
function probabilities(row) {
  const isDistribution = row.every((v) => v >= 0 && v <= 1) && Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-3;
  if (isDistribution) return row;
  const top = Math.max(...row);
  const exp = row.map((v) => Math.exp(v - top));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((v) => v / sum);
}

function show(session, inputName, tensor, outputs, mode) {
  const name = session.outputNames[0];
  const row = Array.from(outputs[name].data, Number);
  const probs = probabilities(row);
  const top = probs.indexOf(Math.max(...probs));
  $("result").textContent = `class ${top} (p = ${probs[top].toFixed(3)})`;
  $("bars").replaceChildren(...probs.map((p, k) => {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.innerHTML = `<span>${k}</span><div style="width:${Math.round(p * 400)}px"></div><span>${p.toFixed(3)}</span>`;
    return bar;
  }));
  $("output-panel").hidden = false;
  window.edgeprepResult = { mode, input: inputName, dims: tensor.dims, output: name, values: row, top, probability: probs[top] };
  setState("done", `ran ${MODEL}model.onnx with onnxruntime-web ${ort.env.versions?.web ?? ""}`);
}

/** An image classifier: one float32/uint8 input of rank 4, NHWC or NCHW with 1 or 3 channels. */
function imageInput(session) {
  if (session.inputMetadata.length !== 1) return null;
  const meta = session.inputMetadata[0];
  if (!meta.isTensor || meta.shape.length !== 4 || !["float32", "uint8"].includes(meta.type)) return null;
  const [, d1, d2, d3] = meta.shape;
  if ([1, 3].includes(d3) && d1 > 0 && d2 > 0) return { name: meta.name, type: meta.type, nchw: false, height: d1, width: d2, channels: d3 };
  if ([1, 3].includes(d1) && d2 > 0 && d3 > 0) return { name: meta.name, type: meta.type, nchw: true, height: d2, width: d3, channels: d1 };
  return null;
}

/** Raw pixels (0..255) of the chosen image, scaled to the input size, in the input's layout. */
async function pixels(file, input) {
  const bitmap = await createImageBitmap(file);
  const canvas = $("preview");
  canvas.width = input.width;
  canvas.height = input.height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0, input.width, input.height);
  const rgba = context.getImageData(0, 0, input.width, input.height).data;
  const size = input.width * input.height;
  const values = new (input.type === "uint8" ? Uint8Array : Float32Array)(size * input.channels);
  for (let p = 0; p < size; p++) {
    const [r, g, b] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2]];
    const channels = input.channels === 1 ? [Math.round(0.299 * r + 0.587 * g + 0.114 * b)] : [r, g, b];
    channels.forEach((v, c) => { values[input.nchw ? c * size + p : p * input.channels + c] = v; });
  }
  const dims = input.nchw ? [1, input.channels, input.height, input.width] : [1, input.height, input.width, input.channels];
  return new ort.Tensor(input.type, values, dims);
}

/** A text model whose TextVectorization runs on the host: the device takes int64 token ids. */
function tokenInput(session, manifest, artifact) {
  const steps = (manifest.host?.steps ?? []).filter((step) => artifact.host_steps.includes(step.id));
  const text = steps.find((step) => step.class === "TextVectorization");
  const meta = session.inputMetadata.find((m) => m.name === text?.output);
  if (!text || session.inputMetadata.length !== 1 || !meta?.isTensor) return null;
  return { name: meta.name, type: meta.type, length: meta.shape[1], layer: text.id };
}

function tokens(text, input) {
  const ids = text.trim().split(/[\s,]+/).filter(Boolean).map((t) => BigInt(t));
  const padded = Array.from({ length: input.length }, (_, i) => ids[i] ?? 0n);
  const values = input.type === "int64" ? BigInt64Array.from(padded) : Int32Array.from(padded, Number);
  return new ort.Tensor(input.type, values, [1, input.length]);
}

/** A text model whose preprocessing runs in the graph: the artifact takes each sentence as UTF-8 bytes
 * (manifest input_encodings "utf8-bytes"), uint8 [1, ...row dims, N], zero padded. */
function utf8Input(session, manifest, artifact) {
  const encodings = artifact.input_encodings ?? {};
  const name = Object.keys(encodings).find((key) => encodings[key] === "utf8-bytes");
  const meta = session.inputMetadata.find((m) => m.name === name);
  if (!name || session.inputMetadata.length !== 1 || !meta?.isTensor) return null;
  const spec = (manifest.inputs ?? []).find((input) => input.name === name);
  return { name, dims: [1, ...(spec?.shape ?? [null]).slice(1).map((d) => d ?? 1)] };
}

function utf8(text, input) {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length && bytes[bytes.length - 1] === 0) throw new Error("the text ends with a NUL byte, which the zero-padded UTF-8 input cannot carry");
  return new ort.Tensor("uint8", bytes, [...input.dims, bytes.length]);
}

async function run(session, feed, mode) {
  setState("busy", "running...");
  try {
    const [name, tensor] = Object.entries(feed)[0];
    show(session, name, tensor, await session.run(feed), mode);
  } catch (error) {
    fail(error);
  }
}

function fail(error) {
  window.edgeprepResult = { error: String(error?.stack ?? error) };
  setState("error", `error: ${error?.message ?? error}`);
}

async function main() {
  const manifest = await fetchOk(`${MODEL}manifest.json`, (r) => r.json());
  const artifact = onnxArtifact(manifest);
  const model = await fetchOk(`${MODEL}${artifact.file}`, (r) => r.arrayBuffer());
  const session = await ort.InferenceSession.create(new Uint8Array(model), { executionProviders: ["wasm"] });
  const inputs = session.inputMetadata.map((m) => `${m.name} ${m.type ?? ""}[${(m.shape ?? []).map((d) => d ?? "?").join(", ")}]`);
  $("model-info").textContent = `${manifest.source?.path ?? "model"}: inputs ${inputs.join("; ")}; outputs ${session.outputNames.join(", ")}`;

  const image = imageInput(session);
  const sentence = image ? null : utf8Input(session, manifest, artifact);
  const text = image || sentence ? null : tokenInput(session, manifest, artifact);
  if (image) {
    $("image-panel").hidden = false;
    $("image").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (file) run(session, { [image.name]: await pixels(file, image) }, "image").catch(fail);
    });
  } else if (sentence) {
    $("text-panel").hidden = false;
    $("tokens-label").textContent = "a sentence:";
    $("tokens").placeholder = "the movie was great";
    $("text-note").textContent = "The whole model runs here, its TextVectorization included: the sentence goes in as UTF-8 bytes.";
    $("classify").addEventListener("click", () => {
      try {
        run(session, { [sentence.name]: utf8($("tokens").value, sentence) }, "text");
      } catch (error) {
        fail(error);
      }
    });
  } else if (text) {
    $("text-panel").hidden = false;
    $("text-note").textContent = `This model's ${text.layer} (TextVectorization) runs on the host in this release: `
      + "the ONNX artifact takes the token ids it produces (edgeprep run, or edgeprep.host in Python), "
      + `padded to ${text.length}. A later release puts the text step into the graph so a sentence can be typed here.`;
    $("classify").addEventListener("click", () => run(session, { [text.name]: tokens($("tokens").value, text) }, "tokens"));
  } else {
    throw new Error(`this page classifies images (one rank-4 input), text (UTF-8 bytes) or token ids; this model takes ${inputs.join("; ")}`);
  }
  setState("ready", `model loaded (${(model.byteLength / 1024).toFixed(0)} KiB): ${image ? "choose an image" : sentence ? "type a sentence" : "type token ids"}`);
}

main().catch(fail);
