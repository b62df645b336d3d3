package dev.dmsg.link;

/** One direction of a transaction: nothing yet, CREATE seen, DELETE seen. */
public enum Phase {
    IDLE, OPEN, CLOSED
}
