import { writeFileSync } from "node:fs";
import type { Reporter, TestCase } from "vitest/node";

/**
 * Lists the tests that passed only on a retry (vitest's JSON report does not say), as JSON
 * `{"flaky": ["file > suite > test", ...]}` in the file named by LP_RETRY_REPORT; .ci/run reads it
 * for its summary.
 */
export default class RetryReporter implements Reporter {
  private readonly flaky: string[] = [];

  onTestCaseResult(testCase: TestCase): void {
    const diagnostic = testCase.diagnostic();
    if (testCase.result().state === "passed" && diagnostic?.flaky) {
      this.flaky.push(`${testCase.module.relativeModuleId} > ${testCase.fullName}`);
    }
  }

  onTestRunEnd(): void {
    const out = process.env["LP_RETRY_REPORT"];
    if (out) writeFileSync(out, `${JSON.stringify({ flaky: this.flaky })}\n`);
  }
}
