declare module 'node-gyp-build' {
  /** Loads the addon that fits this process from dir's build/ or prebuilds/ (throws when none does). */
  function load(dir: string): unknown
  namespace load {
    /** The file load(dir) would load, or throws "No native build was found for ...". */
    function path(dir: string): string
  }
  export = load
}
