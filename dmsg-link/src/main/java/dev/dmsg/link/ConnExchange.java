package dev.dmsg.link;

import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.Message;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The two LNK_CONN transactions of a link (docs/PROFILE.md §4, docs/REFERENCE.md §3.1): ours,
 * opened as the link starts, and the peer's, whose arrival brings the link UP. Both stay open for
 * the life of the link. Event loop only, but for the volatile {@link #peerConn}.
 */
final class ConnExchange {
    private static final Logger log = LoggerFactory.getLogger(Iocom.class);

    private final Iocom iocom;
    Txn ours;
    private Txn peers;
    volatile LnkConn peerConn;

    ConnExchange(Iocom iocom) {
        this.iocom = iocom;
    }

    /** The peer's LNK_CONN, or null before it arrived. */
    Txn peers() {
        return peers;
    }

    /** Our last words as the link closes in order: both LNK_CONNs closed with DELETE. */
    void close() {
        if (ours != null) {
            ours.replyOnLoop(0, true);
        }
        if (peers != null) {
            peers.replyOnLoop(0, true);
        }
    }

    /** The peer opened its LNK_CONN as {@code t}: one per link; a second is answered PARAM. */
    void accept(Txn t, Message m) {
        if (peers != null) {
            iocom.counters.violation(iocom.name(), Violation.SECOND_CONN, m);
            iocom.refuse(t, m, Dmsg.ERR_PARAM);
            return;
        }
        peers = t;
        peerConn = m.ext(LnkConn.class);
        t.handler = this::onPeers;
        iocom.deliver(t, m);
    }

    private void onPeers(Transaction txn, Message m) {
        Txn t = (Txn) txn;
        if (m.isCreate() && !m.isDelete() && !m.isAbort()) {
            t.result(0); // LNK_ERROR|CREATE|REPLY, error 0: accepted, stays open
            iocom.peerConnArrived();
            return;
        }
        if (m.isDelete()) {
            if (iocom.state().isAlive()) {
                log.debug("link {}: peer closed its LNK_CONN ({})", iocom.name(), ErrorCode.nameOf(m.error()));
            }
            t.reply(0);
            return;
        }
        // A one-way message inside the peer's LNK_CONN: LNK_VOLCONF (docs/REFERENCE.md §3.6).
        if (m.isOneWay()) {
            OneWayHandler h = iocom.services.oneWayHandler(m.cmd());
            if (h != null) {
                h.onOneWay(iocom, m);
            } else {
                iocom.counters.violation(iocom.name(), Violation.UNKNOWN_ONE_WAY, m);
            }
        }
    }

    /** The handler of our LNK_CONN: the peer's answer goes to the listener. */
    void onOurs(Transaction txn, Message m) {
        if (m.isCreate() && m.isReply() && !m.isAbort()) {
            log.debug("link {}: peer answered our LNK_CONN: {}", iocom.name(), ErrorCode.nameOf(m.error()));
            iocom.listener.onConnResult(iocom, m.error());
        }
        if (m.isDelete()) {
            txn.reply(0);
        }
        // A one-way answer inside our LNK_CONN (a LNK_VOLCONF|REPLY from a node of ours): to its
        // handler if we registered one; else dropped, as before (nothing we sent asks for it).
        if (m.isOneWay()) {
            OneWayHandler h = iocom.services.oneWayHandler(m.cmd());
            if (h != null) {
                h.onOneWay(iocom, m);
            }
        }
    }
}
