package dev.dmsg.link;

/** Link lifecycle events, called on the link's event loop. */
public interface LinkListener {
    /** The peer's LNK_CONN has arrived and been answered: the link is usable. */
    default void onUp(Link link) {}

    /** The peer answered our LNK_CONN ({@code error} 0 = accepted). */
    default void onConnResult(Link link, int error) {}

    /**
     * The link is gone. Called exactly once, after every open transaction has received its
     * simulated LOSTLINK abort; {@code aborted} is how many did.
     */
    default void onDown(Link link, String reason, int aborted) {}

    LinkListener NONE = new LinkListener() {};
}
