import { afterAll } from "vitest";
import { stopAllLpNodes } from "./helpers/lpNode.js";
import { removeClips } from "./helpers/media.js";
import { removeTempDirs } from "./helpers/tmp.js";

// Runs in every test file: whatever a file left running or on disk goes when it ends
// (registered first, so it runs after the file's own afterAll hooks).
afterAll(async () => {
  await stopAllLpNodes();
  removeClips();
  removeTempDirs();
});
