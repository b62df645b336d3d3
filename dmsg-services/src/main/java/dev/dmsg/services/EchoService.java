package dev.dmsg.services;

import dev.dmsg.link.Services;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.wire.Dmsg;

/**
 * DBG_ECHO (0x0010fe01): a project-private debug command, the same one DragonFly's test peer used
 * in the captured vectors (frame 5 of {@code libdmsg-run1-c2s.bin}). Not part of the seed.
 *
 * <p>Each command element's aux comes back in a reply element; the reply direction closes (with
 * the last echo) when the command direction closes. So {@code ECHO|CREATE|DELETE} gets one
 * {@code ECHO|CREATE|DELETE|REPLY} with the same aux, exactly as in the vectors, and an
 * {@code ECHO|CREATE} stays open, answered element by element, until the opener closes it.
 */
public final class EchoService {
    public static final int DBG_ECHO = 0x0010fe01;

    private EchoService() {}

    public static Services register(Services services) {
        return services.accept(DBG_ECHO, (txn, create) -> ECHO);
    }

    private static final TransactionHandler ECHO = (t, m) -> {
        if (m.isAbort() && m.isDelete()) {
            t.reply(m.error());
            return;
        }
        if (m.baseCmd() == DBG_ECHO) {
            t.send(DBG_ECHO | (m.isDelete() ? Dmsg.DELETE : 0), null, m.auxBytes() == 0 ? null : m.aux().retain());
        } else if (m.isDelete()) {
            t.reply(0);
        }
    };
}
