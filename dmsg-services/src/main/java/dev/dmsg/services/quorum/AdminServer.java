package dev.dmsg.services.quorum;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.Access;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.QrmHeader;
import io.netty.buffer.Unpooled;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * QRM_ADMIN (docs/QUORUM.md §7): a JSON request, a JSON answer. {@code {"op":"status"}} answers
 * the group's {@link GroupStatus}; {@code add}, {@code remove}, {@code transfer} with a
 * {@code label} change the group through its leader and need the admin role.
 */
final class AdminServer {
    private static final Logger log = LoggerFactory.getLogger(AdminServer.class);
    static final ObjectMapper JSON = new ObjectMapper()
        .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);
    private static final Set<String> CHANGES = Set.of("add", "remove", "transfer");

    TransactionHandler handle(Transaction t, Message create, QrmHeader h, GroupEngine g, Access.Principal who) {
        JsonNode req;
        try {
            req = JSON.readTree(create.auxCopy());
        } catch (Exception e) {
            return refuse(t, h, Dmsg.ERR_PARAM, "QRM_ADMIN: the request is not JSON: " + firstLine(e.getMessage()));
        }
        String op = req == null ? "" : req.path("op").asText("");
        if (op.equals("status")) {
            answer(t, h, g.status());
            return (tx, m) -> { };
        }
        if (!CHANGES.contains(op)) {
            return refuse(t, h, Dmsg.ERR_PARAM, "QRM_ADMIN: unknown op '" + op + "' (status, add, remove, transfer)");
        }
        String label = req.path("label").asText("");
        if (label.isEmpty()) {
            return refuse(t, h, Dmsg.ERR_PARAM, "QRM_ADMIN " + op + ": no label");
        }
        if (who.role() != Role.ADMIN) {
            return refuse(t, h, Dmsg.ERR_PERM, who.describe() + " may not " + op + " members of quorum group "
                + h.group() + " (needs admin)");
        }
        log.info("quorum {}: {} {} asked by {}", h.group(), op, label, who.describe());
        g.change(op, label).whenComplete((msg, e) -> {
            if (e != null) {
                Throwable x = QuorumClient.unwrap(e);
                Refusal.send(t, Dmsg.QRM_ADMIN, h.group(), x instanceof QuorumException q ? q.error() : Dmsg.ERR_IO,
                    h.group() + ": " + op + " " + label + ": " + x.getMessage());
            } else {
                answer(t, h, JSON.createObjectNode().put("message", msg));
            }
        });
        return (tx, m) -> { };
    }

    private static void answer(Transaction t, QrmHeader h, Object body) {
        byte[] b;
        try {
            b = JSON.writeValueAsBytes(body);
        } catch (Exception e) {
            Refusal.send(t, Dmsg.QRM_ADMIN, h.group(), Dmsg.ERR_IO, "status: " + e.getMessage());
            return;
        }
        Refusal.answer(t, Dmsg.QRM_ADMIN | Dmsg.DELETE, QrmHeader.of(QrmHeader.ADMIN, h.group()), Unpooled.wrappedBuffer(b));
    }

    private static TransactionHandler refuse(Transaction t, QrmHeader h, int error, String why) {
        Refusal.send(t, Dmsg.QRM_ADMIN, h.group(), error, why);
        return (tx, m) -> { };
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
