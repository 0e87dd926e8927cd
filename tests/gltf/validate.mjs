// Validates GLB files with the Khronos glTF validator and prints one JSON report per file.
// Usage: node validate.mjs model.glb [more.glb ...]
import { readFile } from "node:fs/promises";
import validator from "gltf-validator";

const reports = [];
for (const path of process.argv.slice(2)) {
  const report = await validator.validateBytes(new Uint8Array(await readFile(path)), {
    maxIssues: 50,
  });
  reports.push({
    path,
    errors: report.issues.numErrors,
    warnings: report.issues.numWarnings,
    messages: report.issues.messages
      .filter((m) => m.severity <= 1)
      .map((m) => `${m.code} ${m.pointer ?? ""}: ${m.message}`),
  });
}
console.log(JSON.stringify(reports));
