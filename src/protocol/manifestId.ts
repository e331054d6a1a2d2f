/**
 * The one rule for what may name a stream, shared by HTTP push, the auth webhook's answer and RTMP
 * publish paths: a manifest ID becomes one URL path segment under /stream/ and one storage folder,
 * so it must stay a single, plain, visible segment.
 */

/** Longest manifest ID accepted (a URL segment and a folder name, with room to spare). */
export const MAX_MANIFEST_ID_LENGTH = 128;

const MANIFEST_ID_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/** Why a manifest ID cannot name a stream, or null when it can. */
export function manifestIdProblem(id: string): string | null {
  if (id === "") return "empty manifest id";
  if (id.length > MAX_MANIFEST_ID_LENGTH)
    return `manifest id longer than ${MAX_MANIFEST_ID_LENGTH} characters`;
  if (id.startsWith(".")) return "manifest id starts with a dot";
  if (!MANIFEST_ID_RE.test(id))
    return "manifest id has characters other than letters, digits, '_', '-' and '.'";
  return null;
}

/** Whether a manifest ID can name a stream: letters, digits, `_`, `-`, `.` (not first), bounded length. */
export function isValidManifestId(id: string): boolean {
  return manifestIdProblem(id) === null;
}
