/**
 * The CDP methods ContextScope (lib/scope.ts) rewrites or checks, by rule; the top of scope.ts
 * says what each rule does.
 */

/** Methods whose missing `browserContextId` is the session's context. */
export const CONTEXT_METHODS: ReadonlySet<string> = new Set([
  'Target.createTarget', 'Storage.getCookies', 'Storage.setCookies', 'Storage.clearCookies',
  'Browser.setDownloadBehavior', 'Browser.cancelDownload', 'Browser.grantPermissions',
  'Browser.resetPermissions', 'Browser.setPermission', 'Browser.addPrivacySandboxCoordinatorKeyConfig',
]);

/** Methods whose `targetId`, when given, must be an owned target. */
export const TARGET_METHODS: ReadonlySet<string> = new Set([
  'Target.attachToTarget', 'Target.activateTarget', 'Target.closeTarget', 'Target.getTargetInfo',
  'Target.exposeDevToolsProtocol', 'Target.autoAttachRelated', 'Target.detachFromTarget',
  'Target.sendMessageToTarget', 'Target.openDevTools', 'Target.getDevToolsTarget',
  'Browser.getWindowForTarget', 'Extensions.triggerAction',
]);
