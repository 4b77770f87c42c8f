extern alias gateway;

using System.Diagnostics;
using System.Text.Json;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Gateway;

/// <summary>perf-gateway's command line: bad input is one line and exit 2 before any device exists; SIGTERM drains and exits 0.</summary>
[Collection("Network")]
public sealed class GatewayCliTests
{
    private const string Good = "--tap gwcli0 --listen 127.0.0.1:47890 --peer 127.0.0.1:47891 --vni 42";

    [Theory]
    [Trait(Lab.Trait, Lab.HostOnly)]
    [InlineData("--listen 127.0.0.1:47890 --peer 127.0.0.1:47891 --vni 42", "--tap is required")]
    [InlineData("--tap gwcli0 --listen 127.0.0.1:47890 --peer 127.0.0.1:47891 --vni 16777216", "--vni must be 0 to 16777215")]
    [InlineData("--tap gwcli0 --listen localhost --peer 127.0.0.1:47891 --vni 42", "--listen must be ADDR:PORT")]
    [InlineData("--tap gwcli0 --listen 127.0.0.1:47890 --peer [::1]:47891 --vni 42", "must both be IPv4")]
    [InlineData(Good + " --dscp-map 64=1", "a DSCP is 0 to 63")]
    [InlineData(Good + " --dscp-map 46=x", "bad priority map entry")]
    [InlineData(Good + " --json /proc/version", "/proc/version")]
    [InlineData(Good + " --queues 0", "--queues must be 1 to 64")]
    [InlineData(Good + " --offloads maybe", "--offloads must be on or off")]
    [InlineData(Good + " --source-ports 5000", "--source-ports must be LOW-HIGH")]
    [InlineData(Good + " --source-ports 47880-47899", "holds the listening port 47890")]
    [InlineData(Good + " --source-ports 5000-5001 --queues 4", "has 2 ports for 4 queues")]
    [InlineData("--tap gateway-name-too-long --listen 127.0.0.1:47890 --peer 127.0.0.1:47891 --vni 42", "1-15 ASCII characters")]
    public async Task BadInputIsOneLineAndExit2(string args, string expected)
    {
        TextWriter stderr = Console.Error;
        var captured = new StringWriter();
        Console.SetError(captured);
        int code;
        try
        {
            // Bounded: input that wrongly passed would start a gateway that runs until SIGTERM.
            code = await Task.Run(() => gateway::Perf.Gateway.Program.Run(args.Split(' ')), TestContext.Current.CancellationToken)
                .WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        }
        finally
        {
            Console.SetError(stderr);
        }

        string[] lines = captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, code);
        Assert.Single(lines);
        Assert.StartsWith("perf-gateway: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("gwcli0", HostTools.Sh("ip -o link show")); // nothing was created
    }

    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public void SigtermDrainsWritesTheReportAndExits0()
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
        using NetNs ns = NetNs.Create("gwcli");
        ns.Exec("ip link set lo up");
        string json = Path.Combine(Path.GetTempPath(), "perf-gateway-" + Environment.ProcessId + ".json");
        var start = new ProcessStartInfo("ip", ["netns", "exec", ns.Name, Path.Combine(AppContext.BaseDirectory, "perf-gateway"),
            "--tap", "gwcli0", "--listen", "127.0.0.1:47890", "--peer", "127.0.0.1:47891", "--vni", "42", "--json", json])
        {
            RedirectStandardError = true,
        };
        using Process p = Process.Start(start)!;
        try
        {
            string? banner = p.StandardError.ReadLine(); // written once the TAP and sockets exist
            Assert.NotNull(banner);
            Assert.StartsWith("perf-gateway: gwcli0 <-> 127.0.0.1:47891", banner);
            Assert.Contains("gwcli0", ns.Exec("ip -o link show"));
            Assert.Equal(0, Kill(p.Id));
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(20)), "perf-gateway did not exit after SIGTERM");
            Assert.Equal(0, p.ExitCode);
            using JsonDocument report = JsonDocument.Parse(File.ReadAllText(json));
            Assert.Equal(0, report.RootElement.GetProperty("inbound").GetProperty("drops").GetProperty("wrong_vni").GetInt64());
            Assert.True(report.RootElement.GetProperty("outbound").TryGetProperty("per_priority", out _));
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill();
            }

            File.Delete(json);
        }
    }

    private static int Kill(int pid) => HostTools.Run("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10)).Code;
}
