/**
 * Sizing widgets placed in a notebook's content header. The header is a lumino BoxPanel, which
 * sizes its children by their min-height, not by their content: a widget there has to state
 * the height of what it shows, and ask its parent to lay out again when that height changes.
 */
import { MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

/** Set `widget`'s min-height to `contentHeight` plus its own padding and border (at most `cap`). */
export function fitToContent(widget: Widget, contentHeight: number, cap = Infinity): void {
  const style = window.getComputedStyle(widget.node);
  const frame =
    (parseFloat(style.paddingTop) || 0) +
    (parseFloat(style.paddingBottom) || 0) +
    (parseFloat(style.borderTopWidth) || 0) +
    (parseFloat(style.borderBottomWidth) || 0);
  const value = `${Math.min(Math.ceil(contentHeight + frame), cap)}px`;
  if (widget.node.style.minHeight === value) {
    return;
  }
  widget.node.style.minHeight = value;
  if (widget.parent) {
    MessageLoop.postMessage(widget.parent, Widget.Msg.FitRequest);
  }
}
