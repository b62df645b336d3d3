package dev.dmsg.quorum.cac;

/** A lock entry's bytes do not follow docs/CAC.md §5; the message names the field. */
public final class CacFormatException extends Exception {
    public CacFormatException(String message) {
        super(message);
    }
}
