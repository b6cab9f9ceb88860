// Prints vitest's JSON report as one closing line that any CI can read.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let passed = 0, failed = 0, skipped = 0;
for (const file of report.testResults ?? []) {
  for (const t of file.assertionResults ?? []) {
    if (t.status === 'passed') passed++;
    else if (t.status === 'failed') failed++;
    else skipped++;
  }
  // A file that failed to load has no assertions but must still fail the run.
  if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed++;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (failed > 0 || passed === 0) process.exit(1);
