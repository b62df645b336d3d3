package dev.dmsg.services.node;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.wire.Dmsg;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The shell's {@code circuits} table stays in columns whatever the length of a name. */
class CircuitsTableTest {
    static MeshNode.CircuitView view(String role, int peerType, String fsLabel, String link, String other) {
        NodeKey k = new NodeKey(peerType, new UUID(0, 0), "gamma/disk0", fsLabel, new UUID(0, 0));
        return new MeshNode.CircuitView(role, k, link, 0x1234, other, other == null ? 0 : 0xabcdef, true,
            2_500_000_000L, 7, 9);
    }

    @Test
    void aLongSerialWidensItsColumnAndKeepsTheOthersInLine() {
        String serial = "x".repeat(127); // the longest serial an export may have (Exports.serial)
        String table = RemoteCommands.circuitsTable(List.of(
            view("origin", Dmsg.PEER_CLUSTER, "gamma", "beta(127.0.0.1:9871)", null),
            view("relay", Dmsg.PEER_BLOCK, serial, "alpha(127.0.0.1:40000)", "gamma(127.0.0.1:9872)"),
            view("endpoint", Dmsg.PEER_BLOCK, UUID.randomUUID().toString(), "a-rather-long-link-name-here(10.0.0.1:987)",
                null)));
        List<String> lines = table.lines().toList();
        assertThat(lines.get(0)).isEqualTo("circuits: 3");
        assertThat(lines).hasSize(5);
        // every column starts where the header's does
        String header = lines.get(1);
        for (String column : List.of("NODE", "LINK #ID", "OTHER SIDE #ID", "STATE")) {
            int at = header.indexOf(column);
            for (String row : lines.subList(2, 5)) {
                assertThat(row.charAt(at - 1)).as("before %s in %s", column, row).isEqualTo(' ');
                assertThat(row.charAt(at)).as("%s in %s", column, row).isNotEqualTo(' ');
            }
        }
        assertThat(lines.get(3)).contains(serial + " alpha(127.0.0.1:40000) #1234")
            .contains("gamma(127.0.0.1:9872) #abcdef").endsWith("2.5s open  7 -> / 9 <-");
    }

    /** The usual widths when nothing is long, as before. */
    @Test
    void shortNamesKeepTheUsualWidths() {
        String table = RemoteCommands.circuitsTable(List.of(view("origin", Dmsg.PEER_CLUSTER, "gamma", "beta", null)));
        assertThat(table).isEqualTo("circuits: 1\n"
            + String.format("  %-8s %-16s %-32s %-32s %8s %s%n", "ROLE", "NODE", "LINK #ID", "OTHER SIDE #ID", "AGE",
                "STATE / MSGS RELAYED")
            + String.format("  %-8s %-16s %-32s %-32s %7.1fs %s%n", "origin", "gamma", "beta #1234", "-", 2.5, "open"));
        assertThat(RemoteCommands.circuitsTable(List.of())).isEqualTo("circuits: 0\n");
    }
}
