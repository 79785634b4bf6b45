// The part of the `debug` package (CommonJS, no types of its own) that lib/log.ts uses, so the
// library needs no @types/debug. Ambient: it is not emitted, and no emitted declaration refers to it.
declare module 'debug' {
  interface Debugger {
    (format: string, ...args: unknown[]): void;
    readonly enabled: boolean;
    readonly namespace: string;
  }
  function createDebug(namespace: string): Debugger;
  export = createDebug;
}
