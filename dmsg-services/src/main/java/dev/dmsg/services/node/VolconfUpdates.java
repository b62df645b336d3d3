package dev.dmsg.services.node;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.services.Access;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkVolconf;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * LNK_VOLCONF inside a peer's LNK_CONN (docs/REFERENCE.md §3.6): sets one slot of the node's
 * table, if the sender may change it. Checked on the link's event loop, written on the admin
 * thread (it touches a file).
 *
 * <p>LNK_VOLCONF is one-way and the C code never answers it (an answer to a one-way message
 * panicked the C kernel, docs/REFERENCE.md §2.6). A peer of ours — an authenticated link, which a
 * 2013 C peer never is — gets an answer, so {@code dmsg connect} can say at once what happened:
 * a one-way LNK_VOLCONF|REPLY inside its LNK_CONN, echoing its slot, with error 0 (applied), PERM
 * (not an admin), PARAM (a bad index or mediaid) or IO (the table could not be written, e.g. the
 * disk is full), and for an error a line saying why in the aux.
 */
final class VolconfUpdates {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");

    private final VolconfTable volconf;
    private final Access access;
    private final Executor admin;

    VolconfUpdates(VolconfTable volconf, Access access, Executor admin) {
        this.volconf = volconf;
        this.access = access;
        this.admin = admin;
    }

    void onVolconf(Link link, Message m) {
        LnkVolconf v = m.ext(LnkVolconf.class);
        if (!access.allows(link, m.circuit(), Access.Level.CHANGE)) {
            String why = "LNK_VOLCONF from " + access.who(link, m.circuit()) + ": changing the table needs the admin role";
            link.denied(why); // counted and logged
            answer(link, v, Dmsg.ERR_PERM, why);
            return;
        }
        if (v == null || v.index() < 0 || v.index() >= Dmsg.COPYID_COUNT) {
            log.warn("LNK_VOLCONF from {}: index {} is not 0..255; ignored", link.peerLabel(), v == null ? "?" : v.index());
            answer(link, v, Dmsg.ERR_PARAM, "index " + (v == null ? "?" : v.index()) + " is not 0..255");
            return;
        }
        if (!v.mediaid().equals(new UUID(0, 0))) {
            log.warn("LNK_VOLCONF from {}: mediaid {} is not this node's table (nil); ignored", link.peerLabel(), v.mediaid());
            answer(link, v, Dmsg.ERR_PARAM, "mediaid " + v.mediaid() + " is not this node's table (nil)");
            return;
        }
        admin.execute(() -> {
            try {
                volconf.set(v.index(), v.copy());
                log.info("volconf slot {} set by {}: {}", v.index(), link.peerLabel(), v.copy().describe());
                answer(link, v, 0, "");
            } catch (IOException e) {
                log.error("volconf slot {}: cannot persist the table: {}", v.index(), e.toString());
                answer(link, v, Dmsg.ERR_IO, "cannot write the table: " + describe(e));
            }
        });
    }

    /** {@code NoSuchFileException: /x} says less than its class name: give both. */
    static String describe(IOException e) {
        String msg = e.getMessage();
        return msg == null ? e.getClass().getSimpleName()
            : e.getClass() == IOException.class ? msg : e.getClass().getSimpleName() + ": " + msg;
    }

    /** The answer to a peer of ours (see the class comment); nothing to a plaintext (maybe C) peer. */
    private static void answer(Link link, LnkVolconf v, int error, String why) {
        Transaction t = link.peerConnTxn();
        if (link.peer() == null || v == null || t == null) {
            return;
        }
        t.sendOneWay(Dmsg.LNK_VOLCONF, error, v, why.isEmpty() ? null : Unpooled.copiedBuffer(why + "\0",
            StandardCharsets.UTF_8));
    }
}
