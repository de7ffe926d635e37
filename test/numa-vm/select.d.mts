export declare const REPO_ROOT: string
export declare const NUMA_TEST_DIR: string
/** Topology tags of a test file name: [] when untagged (runs everywhere). */
export declare function topologyTags(file: string): string[]
export declare function runsIn(file: string, topology: string): boolean
/** Guest test files for `topology` (all of them when undefined), absolute or repository-relative. */
export declare function numaTestFiles(topology?: string, options?: { relative?: boolean }): string[]
