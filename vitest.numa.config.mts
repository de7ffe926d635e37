// Guest tests on multi-node NUMA kernels (test/numa/), run inside qemu guests by
// `node test/numa-vm/run.mjs --all` (npm run test:numa). Inside a guest (MEMPOLICY_NUMA_GUEST set) only
// the files meant for that topology are included (naming rule: test/numa-vm/select.mjs); on a host
// every file is included and skips, with the reason, what its kernel cannot show.
import { defineConfig } from 'vitest/config'

import { numaTestFiles } from './test/numa-vm/select.mjs'

const guest = process.env.MEMPOLICY_NUMA_GUEST || undefined

export default defineConfig({
  test: {
    include: guest === undefined ? ['test/numa/**/*.test.ts'] : numaTestFiles(guest, { relative: true }),
    pool: 'forks',
    // One file at a time: the files of a guest share its nodes' memory, and a file that fills a node
    // (fallback tests, 512 MiB moves) would push the pages of another file's placement test elsewhere.
    fileParallelism: false,
    // Under TCG, starting a Node process takes about 2 s and page-touching loops are ~10x slower.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
})
