// The package's install step. On Linux: node-gyp-build, which keeps the prebuilt addon for this
// platform when it loads and builds from source only when none does. Elsewhere there is nothing to
// build (memory policy is a Linux kernel feature: the package loads and fails on first use with
// ERR_MEMPOLICY_UNSUPPORTED), and running node-gyp would only ask for Python and a compiler to
// build an empty target, so installing never breaks a cross-platform dependency tree.
'use strict'

if (process.platform === 'linux') require('node-gyp-build/bin.js')
