// Smoke checks of an installed mempolicy package, shared by smoke.cjs (require) and smoke.mjs
// (import). On a real kernel they place memory and check where it went; under user-mode emulation
// (MEMPOLICY_SMOKE_EMULATED=1: qemu-user implements none of the memory-policy syscalls) they check
// that the addon for this architecture loads and that each call reaches the kernel with this
// architecture's syscall number and comes back as a MempolicyError. MEMPOLICY_SMOKE_LIBC (glibc
// unless set) names the C library whose prebuild must be the one loaded. They run under Node.js
// and under Bun.
'use strict'
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

/** The syscall numbers the addon must have been compiled with, per architecture. */
const SYSCALLS = {
  x64: { SYS_mbind: 237, SYS_set_mempolicy: 238, SYS_get_mempolicy: 239, SYS_set_mempolicy_home_node: 450 },
  arm64: { SYS_mbind: 235, SYS_get_mempolicy: 236, SYS_set_mempolicy: 237, SYS_set_mempolicy_home_node: 450 },
}

function run(mp, label) {
  const emulated = process.env.MEMPOLICY_SMOKE_EMULATED === '1'
  const results = []
  const check = (name, fn) => {
    try {
      const detail = fn()
      results.push(true)
      console.log(`ok - ${label}: ${name}${detail === undefined ? '' : ` (${detail})`}`)
    } catch (err) {
      results.push(false)
      console.log(`not ok - ${label}: ${name}: ${err && err.stack ? err.stack : err}`)
    }
  }

  const pkg = path.dirname(require.resolve('mempolicy/package.json', { paths: [process.cwd()] }))
  const nodeGypBuild = require(require.resolve('node-gyp-build', { paths: [pkg] }))

  const libc = process.env.MEMPOLICY_SMOKE_LIBC || 'glibc'
  check(`the addon is the ${libc} prebuild for this platform, nothing was compiled`, () => {
    const file = nodeGypBuild.path(pkg)
    assert.equal(path.relative(pkg, file), path.join('prebuilds', `linux-${process.arch}`, `mempolicy.${libc}.node`))
    assert.equal(fs.existsSync(path.join(pkg, 'build')), false, 'the package has a build/ folder')
    return path.relative(pkg, file)
  })
  check(`the addon has the ${process.arch} syscall numbers`, () => {
    const native = nodeGypBuild(pkg)
    const want = SYSCALLS[process.arch]
    assert.ok(want, `no syscall table for ${process.arch}`)
    for (const [name, value] of Object.entries(want)) assert.equal(native.constants[name], value, name)
    assert.equal(native.pageSize, mp.pageSize)
  })
  check('constants', () => {
    assert.equal(mp.constants.MPOL_BIND, 2)
    assert.equal(mp.constants.MPOL_WEIGHTED_INTERLEAVE, 6)
  })
  check('node lists and OCI, without the kernel', () => {
    assert.equal(mp.formatNodes([7, 0, 1, 2, 3]), '0-3,7')
    assert.deepEqual(mp.parseNodes('0-3, 7'), [0, 1, 2, 3, 7])
    assert.deepEqual(mp.toOci(mp.fromOci({ mode: 'MPOL_INTERLEAVE', nodes: '0' })), { mode: 'MPOL_INTERLEAVE', nodes: '0' })
  })
  check('topology()', () => {
    const t = mp.topology()
    assert.ok(t.online.length >= 1)
    assert.equal(t.nodes.length, t.online.length)
    return `online ${mp.formatNodes(t.online)}`
  })

  if (emulated) {
    check('isSupported() is false under user-mode emulation', () => assert.equal(mp.isSupported(), false))
    for (const [call, syscall, fn] of [
      ['getMempolicy()', 'get_mempolicy', () => mp.getMempolicy()],
      ['setMempolicy()', 'set_mempolicy', () => mp.setMempolicy({ mode: 'local' })],
      ['mbind()', 'mbind', () => mp.mbind(new ArrayBuffer(3 * 65536), { mode: 'local' })],
      ['alloc()', 'mbind', () => mp.alloc(65536, { mode: 'local' })],
    ]) {
      check(`${call} reaches ${syscall} and throws MempolicyError ENOSYS`, () => {
        assert.throws(fn, (err) => {
          assert.ok(err instanceof mp.MempolicyError, String(err))
          assert.equal(err.code, 'ENOSYS')
          assert.equal(err.errno, -38)
          assert.equal(err.syscall, syscall)
          return true
        })
      })
    }
  } else {
    const node = mp.memsAllowed()[0]
    check('isSupported()', () => assert.equal(mp.isSupported(), true))
    check('getMempolicy()', () => {
      const info = mp.getMempolicy()
      assert.ok(['default', 'local', 'bind', 'interleave', 'preferred', 'preferred-many', 'weighted-interleave'].includes(info.mode))
      assert.ok(Array.isArray(info.nodes) && Array.isArray(info.flags))
      return `${info.mode} ${mp.formatNodes(info.nodes)}`.trim()
    })
    check(`alloc() bound to node ${node}, pages placed there`, () => {
      const buf = mp.alloc(4 << 20, { mode: 'bind', nodes: [node] })
      buf.fill(1)
      assert.deepEqual(mp.policyOf(buf), { mode: 'bind', nodes: [node], flags: [] })
      assert.equal(mp.nodeOf(buf, 0), node)
      assert.equal(mp.nodeOf(buf, buf.byteLength - 1), node)
      // move_pages in query mode: where the kernel says every page is.
      const pages = mp.pageNodes(buf)
      assert.equal(pages.length, buf.byteLength / mp.pageSize)
      assert.deepEqual([...new Set(pages)], [node])
      return `${pages.length} pages on node ${node}`
    })
    check('mbind() on an alloc()ed buffer, then policyOf()', () => {
      const buf = mp.alloc(1 << 20)
      const span = mp.mbind(buf, { mode: 'interleave', nodes: [node] })
      assert.deepEqual(span, { byteOffset: 0, byteLength: 1 << 20 })
      buf.fill(2)
      assert.deepEqual(mp.policyOf(buf), { mode: 'interleave', nodes: [node], flags: [] })
      assert.equal(mp.nodeOf(buf, 4096), node)
    })
    check('setMempolicy() then getMempolicy(), restored', () => {
      const before = mp.getMempolicy()
      try {
        mp.setMempolicy({ mode: 'preferred', nodes: [node] })
        assert.deepEqual(mp.getMempolicy(), { mode: 'preferred', nodes: [node], flags: [] })
      } finally {
        mp.setMempolicy(before.mode === 'local' ? { mode: 'local' } : before)
      }
    })
    check('a kernel error is a MempolicyError', () => {
      // A home node is only for ranges bound with 'bind' or 'preferred-many': the kernel refuses it here.
      const buf = mp.alloc(65536)
      assert.throws(
        () => mp.setHomeNode(buf, node),
        (err) => {
          assert.ok(err instanceof mp.MempolicyError, String(err))
          assert.equal(err.syscall, 'set_mempolicy_home_node')
          return true
        },
      )
    })
  }
  return results
}

module.exports = { run }
