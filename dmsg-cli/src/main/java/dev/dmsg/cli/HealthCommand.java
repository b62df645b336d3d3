package dev.dmsg.cli;

import dev.dmsg.services.shell.ShellClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/**
 * {@code dmsg health --node HOST:PORT}: is the node ready, for scripts (docs/OPERATIONS.md
 * "Metrics and health"). Reaches the node as {@code dmsg status} does (a DMSG link, TLS with the
 * CLI's identity) and runs its shell's {@code health}: the same answer as {@code /readyz}.
 */
@Command(name = "health", mixinStandardHelpOptions = true,
    description = {"Says whether a node is ready: it listens, at least one of the links its VOLCONF table keeps is up "
        + "(if it keeps any), and each of its quorum groups knows a leader (if it is in any).",
        "Exit 0 ready; 1 not ready (the reason printed); 2 the node cannot be reached, or a usage error."})
final class HealthCommand extends AdminCommands.NodeOption implements Callable<Integer> {
    static final int READY = 0;
    static final int NOT_READY = 1;
    static final int UNREACHABLE = 2;

    @Override
    public Integer call() {
        try (ShellClient c = open()) {
            if (c.legacyNode()) {
                System.err.println("dmsg health: " + node + " is a 2013 C node (libdmsg): it has no health check");
                return UNREACHABLE;
            }
            StringBuilder out = new StringBuilder();
            int status = c.run("health", out::append, AdminCommands.TIMEOUT);
            String answer = out.toString().trim();
            if (status == 0 && answer.equals("ready")) {
                System.out.println(node + ": ready");
                return READY;
            }
            if (answer.startsWith("not ready: ")) {
                System.out.println(node + ": " + answer);
                return NOT_READY;
            }
            // a node without the command (an older build) or a refusal: we could not ask
            System.err.println("dmsg health: " + node + " did not answer 'health': " + answer);
            return UNREACHABLE;
        } catch (ShellClient.ShellException e) {
            System.err.println("dmsg health: " + e.getMessage());
            return UNREACHABLE;
        }
    }
}
