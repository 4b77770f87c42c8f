extern alias gateway;

using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using gateway::Perf.Gateway;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Gateway;

/// <summary>
/// A TCP transfer through the gateway to the kernel's VXLAN, either way, checked intact, with super-packets cut outward
/// and merged inward.
/// </summary>
internal static class TcpThroughTunnel
{
    internal static async Task TransferAsync(string tag, bool fromGatewaySide, int queues)
    {
        using TunnelLab lab = TunnelLab.Create(tag, "46=5", TunnelLab.KernelVxlanInB, queues: queues);
        Assert.Equal(queues, lab.Gateway.Queues);
        lab.Start();
        CancellationToken ct = TestContext.Current.CancellationToken;
        NetNs server = fromGatewaySide ? lab.Net.B : lab.Net.A;
        NetNs clientSide = fromGatewaySide ? lab.Net.A : lab.Net.B;
        string serverAddress = fromGatewaySide ? "10.42.0.2" : "10.42.0.1";
        using Socket listener = server.Run(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Parse(serverAddress), 5001));
            s.Listen();
            return s;
        });
        using Socket client = clientSide.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        byte[] data = RandomNumberGenerator.GetBytes(Lab.Scaled(4 << 20));
        Task<byte[]> received = ReceiveAllAsync(listener, ct);
        await client.ConnectAsync(new IPEndPoint(IPAddress.Parse(serverAddress), 5001), ct).AsTask().WaitAsync(TimeSpan.FromSeconds(20), ct);
        await client.SendAsync(data, ct).AsTask().WaitAsync(TimeSpan.FromSeconds(60), ct);
        client.Shutdown(SocketShutdown.Send);
        byte[] got = await received.WaitAsync(TimeSpan.FromSeconds(60), ct);

        Assert.Equal(data.Length, got.Length);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(got));
        lab.Stop();
        GatewayCounters c = lab.Gateway.Counters;
        Assert.True(c.InFrames > 0 && c.OutFrames > 0);
        Assert.True(!fromGatewaySide || c.OutFrames > data.Length / 1400, "outbound frames " + c.OutFrames);
        Assert.True(!fromGatewaySide || c.OutSuperFrames > 0, "the TAP (offloads " + lab.Gateway.Tap.Offloads + ") handed over no TSO super-packet");
        Assert.True(fromGatewaySide || c.InSuperFrames > 0, "no segments from the peer were merged into a super-packet (" + c.InFrames + " frames written)");
        Assert.False(lab.Gateway.GsoWritesRefused);
        Assert.Equal(0, c.OutMalformed);
        Assert.Equal(0, lab.Gateway.Uplinks.Sum(u => u.Stats.Failed));
    }

    private static async Task<byte[]> ReceiveAllAsync(Socket listener, CancellationToken ct)
    {
        using Socket s = await listener.AcceptAsync(ct);
        using var all = new MemoryStream();
        byte[] buffer = new byte[64 << 10];
        int n;
        while ((n = await s.ReceiveAsync(buffer, ct)) > 0)
        {
            all.Write(buffer, 0, n);
        }

        return all.ToArray();
    }
}
