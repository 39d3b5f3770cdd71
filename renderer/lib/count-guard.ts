/**
 * Keeps a count read from undoing an edit the page already shows.
 *
 * The sidebar's counts are the server's plus the page's own edits, applied the moment a key is pressed (the
 * edit's change event is then expected and ignored). A count read that was on its way while such an edit was
 * shown, or while an earlier edit's write had not been answered, can answer for the database as it was before
 * that write: applying it would put the old count back, and since the edit's own event is ignored nothing would
 * ever correct it (seen as a sidebar `excluded` count stuck at 1 after the flag was turned off).
 *
 * So a read may only start once every shown edit is answered, and its reply is used only if no edit was shown
 * while it travelled; otherwise the caller reads again once the writes are in.
 */
export class CountGuard {
  private shown = 0;
  private unanswered = 0;

  /** An edit was applied to the counts on screen; its write is on its way. */
  editShown(): void {
    this.shown++;
    this.unanswered++;
  }

  /** The server answered that edit's write (stored or refused). */
  editAnswered(): void {
    this.unanswered = Math.max(0, this.unanswered - 1);
  }

  /** Whether writes are still unanswered (a read now could miss them). */
  get busy(): boolean {
    return this.unanswered > 0;
  }

  /** Call as a read starts: null means wait (`busy`); otherwise hand the ticket to `fresh` with the reply. */
  begin(): number | null {
    return this.unanswered > 0 ? null : this.shown;
  }

  /** Whether a reply to a read started with `ticket` still holds: no edit was shown since. */
  fresh(ticket: number): boolean {
    return ticket === this.shown && this.unanswered === 0;
  }
}
