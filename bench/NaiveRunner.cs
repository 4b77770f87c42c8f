using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Perf.Bench;

/// <summary>
/// The baseline for bench/run: what a .NET user writes today to give each datagram its own priority.
/// <c>Socket.SendTo</c> with <c>SetRawSocketOption(SOL_SOCKET, SO_PRIORITY)</c> before every packet, priorities 0-6
/// cycling, the same 32-byte header as perfgen. Prints "pps=N" over the time after the warm-up.
/// </summary>
internal static class NaiveRunner
{
    // Perf.Bench naive DEST_IP PORT SIZE SECONDS WARMUP
    internal static int Run(string[] args)
    {
        var dest = new IPEndPoint(IPAddress.Parse(args[1]), int.Parse(args[2], CultureInfo.InvariantCulture));
        int size = int.Parse(args[3], CultureInfo.InvariantCulture);
        double seconds = double.Parse(args[4], CultureInfo.InvariantCulture);
        double warmup = double.Parse(args[5], CultureInfo.InvariantCulture);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        SocketAddress address = dest.Serialize();
        byte[] payload = new byte[size];
        byte[][] priorities = [.. Enumerable.Range(0, 7).Select(BitConverter.GetBytes)];
        long start = Stopwatch.GetTimestamp();
        long measureFrom = start + (long)(warmup * Stopwatch.Frequency);
        long end = measureFrom + (long)(seconds * Stopwatch.Frequency);
        long seq = 0, counted = -1;
        long now;
        while ((now = Stopwatch.GetTimestamp()) < end)
        {
            if (counted < 0 && now >= measureFrom)
            {
                counted = seq;
            }

            for (int i = 0; i < 64; i++, seq++)
            {
                BitConverter.TryWriteBytes(payload.AsSpan(8), seq);
                BitConverter.TryWriteBytes(payload.AsSpan(24), Stopwatch.GetTimestamp());
                socket.SetRawSocketOption(1, 12, priorities[seq % 7]);
                socket.SendTo(payload, SocketFlags.None, address);
            }
        }

        double secs = Stopwatch.GetElapsedTime(measureFrom, now).TotalSeconds;
        Console.WriteLine("pps=" + ((seq - Math.Max(counted, 0)) / secs).ToString("0", CultureInfo.InvariantCulture));
        return 0;
    }
}
