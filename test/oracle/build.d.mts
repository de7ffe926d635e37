export declare const ORACLE_SOURCE: string
export declare const ORACLE_BUILD_DIR: string
export declare const ORACLE_ADDON: string
/** Returns the path of the compiled oracle addon, compiling it first if needed. */
export declare function ensureOracleBuilt(): string
