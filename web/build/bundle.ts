// Bundles the page (web/app) into dist/web/public with esbuild: one ES module, one stylesheet
// (ours plus d3-flame-graph's), source maps, and index.html copied beside them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';

export async function bundleWebApp(repoRoot: string, outDir: string, minify = true): Promise<string[]> {
  const appDir = path.join(repoRoot, 'web', 'app');
  fs.mkdirSync(outDir, { recursive: true });
  const r = await build({
    entryPoints: { app: path.join(appDir, 'main.ts') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    outdir: outDir,
    sourcemap: true,
    minify,
    metafile: true,
    // d3-flame-graph recognises its own hierarchy nodes by constructor.name === 'Node'.
    keepNames: true,
    logLevel: 'warning',
    absWorkingDir: repoRoot,
    legalComments: 'linked',
  });
  fs.copyFileSync(path.join(appDir, 'index.html'), path.join(outDir, 'index.html'));
  return Object.keys(r.metafile.outputs).map((f) => path.resolve(repoRoot, f));
}

if (require.main === module) {
  const repoRoot = path.resolve(__dirname, '..', '..', '..');
  const outDir = path.join(repoRoot, 'dist', 'web', 'public');
  bundleWebApp(repoRoot, outDir, !process.argv.includes('--no-minify')).then(
    (files) => {
      for (const f of files) process.stdout.write(`built ${path.relative(repoRoot, f)} (${fs.statSync(f).size} bytes)\n`);
    },
    (e: Error) => {
      process.stderr.write(`build:web failed: ${e.message}\n`);
      process.exit(1);
    },
  );
}
