// Workers, child processes and the CLI run the compiled package: build dist/ once per test run.
import { execFileSync } from 'node:child_process'
import path from 'node:path'

export default function setup(): void {
  const root = path.join(__dirname, '..')
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
  // The ES module entry (dist/index.mjs, index.d.mts), as `npm run build` writes it.
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-esm.mjs')], { cwd: root, stdio: 'inherit' })
}
