// jsdom has no DragEvent; @lumino/dragdrop (pulled in by @lumino/widgets) subclasses it on load.
if (typeof globalThis.DragEvent === 'undefined') {
  globalThis.DragEvent = class DragEvent extends MouseEvent {};
}
