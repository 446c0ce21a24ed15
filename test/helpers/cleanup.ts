// Releasing what a test opened: every step runs even when an earlier one fails, and the
// failures are reported together (naming each step), never swallowed.
export type Step = [what: string, release: () => unknown];

export async function releaseAll(...steps: (Step | null | undefined | false)[]): Promise<void> {
  const failed: string[] = [];
  for (const s of steps) {
    if (!s) continue;
    try {
      await s[1]();
    } catch (e) {
      failed.push(`${s[0]}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (failed.length) throw new Error(`cleanup failed:\n  ${failed.join('\n  ')}`);
}
