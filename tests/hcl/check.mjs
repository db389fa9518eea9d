// Checks Terraform files with HashiCorp's own code, compiled to WASM:
// every `*.tf` file of the directory given must parse with the HCL parser
// Terraform uses (@cdktf/hcl2json) and be byte-for-byte what `terraform fmt`
// makes of it (@cdktf/hcl-tools). Prints each problem; exits 1 if any,
// 2 on a usage error.
//
//   node tests/hcl/check.mjs DIR
import { parse } from "@cdktf/hcl2json";
import { format } from "@cdktf/hcl-tools";
import fs from "node:fs";
import path from "node:path";

/** The first lines where `a` and `b` differ, as a short report. */
function firstDifference(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) {
      return `line ${i + 1}:\n  rendered:       ${JSON.stringify(x[i])}\n  terraform fmt:  ${JSON.stringify(y[i])}`;
    }
  }
  return "(only in line endings)";
}

const dir = process.argv[2];
if (!dir || !fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
  console.error("usage: node check.mjs DIR");
  process.exit(2);
}
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".tf"))
  .sort();
if (files.length === 0) {
  console.error(`${dir}: no .tf files`);
  process.exit(2);
}

const problems = [];
for (const name of files) {
  const src = fs.readFileSync(path.join(dir, name), "utf8");
  try {
    await parse(name, src);
  } catch (e) {
    problems.push(`${name}: HCL parser: ${e}`);
    continue;
  }
  let formatted;
  try {
    formatted = await format(src);
  } catch (e) {
    problems.push(`${name}: terraform fmt: ${e}`);
    continue;
  }
  if (formatted !== src) {
    problems.push(`${name}: not terraform fmt output, ${firstDifference(src, formatted)}`);
  }
}

for (const p of problems) {
  console.log(p);
}
console.log(`${files.length - new Set(problems.map((p) => p.split(":")[0])).size} of ${files.length} files parse and are terraform fmt clean`);
process.exit(problems.length === 0 ? 0 : 1);
