package dev.dmsg.services.legacy;

import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import java.util.ArrayList;
import java.util.List;

/**
 * The 2013 debug shell of a {@link LegacyCRelay} ({@code dmsg_msg_dbg} and
 * {@code hammer2_shell_parse}, docs/REFERENCE.md §7), scripted: a DBG_SHELL command — one-way, as
 * {@code hammer2 shell} sends it, or a transaction — is parsed, its output goes out as one-way
 * DBG_SHELL|REPLY messages, one per {@code printf} line, and {@code msg_reply(msg, 0)} ends it:
 * a one-way LNK_ERROR|REPLY (the prompt) for a one-way command, the closing LNK_ERROR of a
 * transaction otherwise. Commands: {@code help}/{@code ?}, {@code tree}; {@code span} and
 * {@code circ} dial and forge in C and are not modelled (they answer as unknown commands here);
 * anything else prints {@code Unrecognized command: …}. The help wording is ours: the reference
 * gives the commands, not the text. Called under the relay's lock.
 */
final class LegacyCShell {
    /** The four-line command list of {@code help}. */
    static final List<String> HELP = List.of(
        "help        Command help\n",
        "tree        Dump spanning tree\n",
        "span <host> Connect to a remote host\n",
        "circ <msgid> Open a circuit toward a span\n");

    private final LegacyCRelay relay;
    private long commands;

    LegacyCShell(LegacyCRelay relay) {
        this.relay = relay;
    }

    /** Shell commands run so far. Under the relay's lock. */
    long commands() {
        return commands;
    }

    /** dmsg_msg_dbg: switches on the command with CREATE and DELETE masked off. */
    void rx(LegacyCRelay.Connection c, LegacyCRelay.State st, Message m) {
        int sw = m.cmd() & (Dmsg.BASECMDMASK | Dmsg.REPLY);
        if (sw == Dmsg.DBG_SHELL) {
            commands++;
            relay.shellReply(c, st, m, run(m.auxString()), 0);
        } else if (sw == (Dmsg.DBG_SHELL | Dmsg.REPLY)) {
            return; // output of a shell elsewhere: printed to the daemon's stdout
        } else {
            // e.g. the closing LNK_ERROR|DELETE of a transactional command, already answered:
            // msg_reply on a state whose transmit side is closed does nothing.
            relay.shellReply(c, st, m, List.of(), Dmsg.ERR_NOSUPP);
        }
    }

    /** hammer2_shell_parse: the output lines of {@code line}. */
    List<String> run(String line) {
        String cmd = line.trim().split("\\s+", 2)[0];
        return switch (cmd) {
            case "" -> List.of(); // hammer2 shell's first, empty command: only the prompt
            case "help", "?" -> HELP;
            case "tree" -> lines(relay.tree());
            default -> List.of("Unrecognized command: " + line + "\n");
        };
    }

    private static List<String> lines(String text) {
        List<String> out = new ArrayList<>();
        int from = 0;
        while (from < text.length()) {
            int nl = text.indexOf('\n', from);
            int to = nl < 0 ? text.length() : nl + 1;
            out.add(text.substring(from, to));
            from = to;
        }
        return out;
    }
}
