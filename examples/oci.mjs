// Reads the memory policy of an OCI runtime-spec bundle (config.json, linux.memoryPolicy),
// validates it as a runtime must before creating the container, shows it, and with --run starts
// the config's process.args under it, the way a runtime applies it to the container's init.
//
//   node examples/oci.mjs [path/to/config.json] [--run]
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatNodes, fromOci, spawn, toOci } from 'mempolicy'

const { values, positionals } = parseArgs({ options: { run: { type: 'boolean' } }, allowPositionals: true })
const file = path.relative(process.cwd(), positionals[0] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'config.json'))
const config = JSON.parse(readFileSync(file, 'utf8'))
const value = config.linux?.memoryPolicy

if (value === undefined) {
  console.log(`${file}: no linux.memoryPolicy; the container inherits the runtime's policy`)
  process.exit(0)
}

let policy
try {
  policy = fromOci(value)
} catch (err) {
  // What a runtime reports before it creates anything: the field, the rule, and the value.
  console.error(`${file}: invalid linux.memoryPolicy: ${err.message} [${err.code}]`)
  process.exit(1)
}

const numactl = {
  bind: '--membind',
  interleave: '--interleave',
  preferred: '--preferred',
  'preferred-many': '--preferred-many',
  'weighted-interleave': '--weighted-interleave',
  local: '--localalloc',
}[policy.mode]
console.log(`${file}: linux.memoryPolicy ${JSON.stringify(value)}`)
console.log(`  policy:    ${JSON.stringify(policy)}`)
console.log(`  canonical: ${JSON.stringify(toOci(policy))}`)
if (numactl) {
  // numactl writes 'relative-nodes' as a leading '+'; it has no option for 'static-nodes'.
  const relative = policy.flags?.includes('relative-nodes') ? '+' : ''
  const note = policy.flags?.includes('static-nodes') ? '   # without static-nodes: numactl has no option for it' : ''
  console.log(
    `  numactl:   numactl ${numactl}${policy.nodes ? ` ${relative}${formatNodes(policy.nodes)}` : ''} -- ` +
      `${config.process.args.map(shellWord).join(' ')}${note}`,
  )
}

function shellWord(word) {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`
}

if (values.run) {
  const [command, ...args] = config.process.args
  console.log(`running ${JSON.stringify(config.process.args)} under it (its own mappings, from /proc/self/numa_maps):`)
  const child = spawn(command, args, { mempolicy: policy, stdio: 'inherit' })
  child.on('exit', (code) => {
    process.exitCode = code ?? 1
  })
}
