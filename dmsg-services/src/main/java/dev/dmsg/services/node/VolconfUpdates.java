package dev.dmsg.services.node;

import dev.dmsg.link.Link;
import dev.dmsg.services.Access;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkVolconf;
import dev.dmsg.wire.Message;
import java.io.IOException;
import java.util.UUID;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * LNK_VOLCONF inside a peer's LNK_CONN (docs/REFERENCE.md §3.6): sets one slot of the node's
 * table, if the sender may change it. Checked on the link's event loop, written on the admin
 * thread (it touches a file).
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
        if (!access.allows(link, m.circuit(), Access.Level.CHANGE)) {
            link.denied("LNK_VOLCONF from " + access.who(link, m.circuit()) + ": changing the table needs the admin role");
            return; // one-way: counted and logged, never answered
        }
        LnkVolconf v = m.ext(LnkVolconf.class);
        if (v == null || v.index() < 0 || v.index() >= Dmsg.COPYID_COUNT) {
            log.warn("LNK_VOLCONF from {}: index {} is not 0..255; ignored", link.peerLabel(), v == null ? "?" : v.index());
            return;
        }
        if (!v.mediaid().equals(new UUID(0, 0))) {
            log.warn("LNK_VOLCONF from {}: mediaid {} is not this node's table (nil); ignored", link.peerLabel(), v.mediaid());
            return;
        }
        admin.execute(() -> {
            try {
                volconf.set(v.index(), v.copy());
                log.info("volconf slot {} set by {}: {}", v.index(), link.peerLabel(), v.copy().describe());
            } catch (IOException e) {
                log.error("volconf slot {}: cannot persist the table: {}", v.index(), e.getMessage());
            }
        });
    }
}
