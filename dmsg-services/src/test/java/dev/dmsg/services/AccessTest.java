package dev.dmsg.services;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.shell.Delegation;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.wire.Dmsg;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;

/**
 * Roles in the shell (docs/SECURITY.md §5): what each role may run, the PERM answer with what it
 * needs, the count on the caller's link, circuits capped at member, plaintext per configuration.
 */
class AccessTest {
    static final String FP = "SHA256:" + "A".repeat(43);

    /** A link whose peer is {@code peer} (null: plaintext); records what it was told to count. */
    static Link link(PeerIdentity peer, List<String> denied) {
        return (Link) Proxy.newProxyInstance(Link.class.getClassLoader(), new Class<?>[] {Link.class}, (p, m, a) ->
            switch (m.getName()) {
                case "peer" -> peer;
                case "circuitPeer" -> null;
                case "peerLabel" -> "peer";
                case "remoteAddress" -> "10.0.0.5:4000";
                case "denied" -> denied.add((String) a[0]);
                case "toString" -> "fake link";
                default -> throw new UnsupportedOperationException(m.getName());
            });
    }

    static PeerIdentity as(Role role, int grants) {
        return new PeerIdentity("ops", FP, role, grants);
    }

    final List<String> denied = new ArrayList<>();
    final ShellService shell = new ShellService(Runnable::run, new Access(l -> Role.MEMBER))
        .add("look", "look", (args, out) -> { out.append("looked\n"); return 0; })
        .add("change", "change", Access.Level.CHANGE, (args, out) -> { out.append("changed\n"); return 0; })
        .remote("@NODE COMMAND", (caller, d, node, line) -> CompletableFuture.completedFuture(
            new ShellService.Result(0, "remote\n")));

    ShellService.Result run(String line, PeerIdentity peer, long circuit) {
        return shell.execute(line, new ShellService.Caller(link(peer, denied), circuit));
    }

    @Test
    void anAdminMayDoEverythingOnItsOwnLink() {
        assertThat(run("change", as(Role.ADMIN, 0), 0).output()).isEqualTo("changed\n");
        assertThat(run("look", as(Role.ADMIN, 0), 0).status()).isZero();
        assertThat(denied).isEmpty();
    }

    @Test
    void aMemberReadsButMayNotChange() {
        assertThat(run("look", as(Role.MEMBER, 0), 0).status()).isZero();
        ShellService.Result r = run("change", as(Role.MEMBER, 0), 0);
        assertThat(r.status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(r.output()).isEqualTo("change: refused: needs the admin role (it changes this node); 'ops' (member) may not\n");
        assertThat(denied).containsExactly("shell 'change' from 'ops' (member)");
    }

    @Test
    void aClientNeedsShellReadOnlyToReadAndNeverChanges() {
        ShellService.Result r = run("look", as(Role.CLIENT, Grants.BLK_READ), 0);
        assertThat(r.status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(r.output()).contains("needs the admin or member role, or a client granted shell-ro; 'ops' (client) may not");
        assertThat(run("look", as(Role.CLIENT, Grants.SHELL_RO), 0).status()).isZero();
        assertThat(run("change", as(Role.CLIENT, Grants.SHELL_RO | Grants.BLK_RW), 0).status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(run("@far look", as(Role.CLIENT, 0), 0).status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(denied).hasSize(3);
    }

    @Test
    void overACircuitAnAdminIsAMember() {
        assertThat(run("look", as(Role.ADMIN, 0), 0x77).status()).isZero();
        ShellService.Result r = run("change", as(Role.ADMIN, 0), 0x77);
        assertThat(r.status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(r.output()).contains("'ops' (member, over a circuit) may not");
    }

    @Test
    void blkForAdminsAndMembersAnywhereAndForGrantedClientsOnTheirOwnLink() {
        Access access = new Access(l -> Role.MEMBER);
        record Case(PeerIdentity peer, long circuit, boolean read, boolean write) {}
        List<Case> cases = List.of(
            new Case(as(Role.ADMIN, 0), 0, true, true),
            new Case(as(Role.ADMIN, 0), 0x77, true, true),           // over a circuit: a member, who may write
            new Case(as(Role.MEMBER, 0), 0, true, true),
            new Case(as(Role.MEMBER, 0), 0x77, true, true),
            new Case(as(Role.CLIENT, 0), 0, false, false),
            new Case(as(Role.CLIENT, Grants.SHELL_RO), 0, false, false),
            new Case(as(Role.CLIENT, Grants.BLK_READ), 0, true, false),
            new Case(as(Role.CLIENT, Grants.BLK_RW), 0, true, true),
            new Case(as(Role.CLIENT, Grants.BLK_RW), 0x77, false, false), // grants count on the client's own link
            new Case(null, 0, true, true));                         // plaintext: the configured role (member)
        for (Case c : cases) {
            Link l = link(c.peer, denied);
            assertThat(access.allowsBlk(l, c.circuit, false)).as("read %s", c).isEqualTo(c.read);
            assertThat(access.allowsBlk(l, c.circuit, true)).as("write %s", c).isEqualTo(c.write);
        }
        assertThat(denied).as("the caller counts its refusals").isEmpty();
    }

    @Test
    void plaintextTakesTheConfiguredRoleAndTheNodeItselfIsTrusted() {
        assertThat(run("look", null, 0).status()).isZero();
        ShellService.Result r = run("change", null, 0);
        assertThat(r.status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(r.output()).contains("'peer@10.0.0.5:4000' (member, plaintext) may not");
        assertThat(shell.execute("change").output()).isEqualTo("changed\n"); // the node's own API
    }

    // ---- commands passed on for a caller (@NODE, docs/IDENTITY.md §5) ----

    ShellService.Result runFor(String line, PeerIdentity via, long circuit, Delegation d) {
        return shell.execute(line, new ShellService.Caller(link(via, denied), circuit, d));
    }

    @Test
    void aDelegationOnlyRestrictsTheLesserOfTheTwoRolesRuns() {
        String otherFp = "SHA256:" + "B".repeat(43);
        Delegation client = new Delegation("ops-cli", otherFp, Role.CLIENT, Grants.SHELL_RO, 1);
        assertThat(runFor("look", as(Role.ADMIN, 0), 0, client).status()).isZero();
        ShellService.Result r = runFor("change", as(Role.ADMIN, 0), 0, client);
        assertThat(r.status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(r.output()).contains("'ops-cli' (client, for 'ops-cli' via ops) may not");
        Delegation admin = new Delegation("root", otherFp, Role.ADMIN, 0, 1);
        assertThat(runFor("change", as(Role.MEMBER, 0), 0, admin).status()).as("a delegation never raises")
            .isEqualTo(Dmsg.ERR_PERM);
        Delegation noShell = new Delegation("ops-cli", otherFp, Role.CLIENT, Grants.BLK_RW, 1);
        assertThat(runFor("look", as(Role.ADMIN, 0), 0, noShell).status()).isEqualTo(Dmsg.ERR_PERM);
    }

    @Test
    void aDelegationSurvivesItsWireFormAndAMalformedOneIsRefusedNotRaised() {
        Delegation d = new Delegation("alpha", FP, Role.CLIENT, Grants.SHELL_RO | Grants.BLK_READ, 3);
        byte[] aux = ("tree\0" + d.encode() + "\0").getBytes(StandardCharsets.UTF_8);
        assertThat(Delegation.fromAux(aux)).isEqualTo(d);
        assertThat(Delegation.fromAux("tree\0".getBytes())).isNull();
        assertThat(Delegation.fromAux("tree".getBytes())).isNull();
        Assertions.assertThatThrownBy(() -> Delegation.parse("dmsg-on-behalf-of-v1 depth=x"))
            .isInstanceOf(IllegalArgumentException.class);
        assertThat(new Delegation("bad name\n", FP, Role.MEMBER, 0, 1).name()).isEqualTo("bad_name_");
    }

    @Test
    void nestingDeeperThanTheLimitIsRefusedWithItsLevel() {
        ShellService nested = new ShellService(Runnable::run, new Access(l -> Role.MEMBER));
        nested.add("look", "look", (args, out) -> { out.append("looked\n"); return 0; });
        nested.remote("@NODE COMMAND", (caller, d, node, line) ->
            nested.executeAsync(line, new ShellService.Caller(caller.link(), caller.circuit(), d)));
        Link l = link(as(Role.ADMIN, 0), denied);
        assertThat(nested.execute("@a @b @c @d look", new ShellService.Caller(l, 0)).output()).isEqualTo("looked\n");
        ShellService.Result r = nested.execute("@a @b @c @d @e look", new ShellService.Caller(l, 0));
        assertThat(r.status()).isEqualTo(ShellService.ERR_USAGE);
        assertThat(r.output()).isEqualTo("@e: refused: @ nesting deeper than 4 ('@e look' would be level 5)\n");
    }
}
