// Nothing: imported first so that the module loader has loaded what it needs to import CommonJS.
