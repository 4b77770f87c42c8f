using Perf.Host;

namespace Perf.LoadGen.Send;

/// <summary>
/// <c>perfgen send --watch DEV</c>: the devices whose qdisc classes are read every interval while sending (only read:
/// nothing on them changes), and <c>--expect</c>, the class each priority should land in.
/// </summary>
internal sealed record WatchSettings(IReadOnlyList<string> Devices, IReadOnlyDictionary<uint, TcHandle> Expect)
{
    internal static readonly WatchSettings None = new([], new Dictionary<uint, TcHandle>());

    internal bool IsEmpty => Devices.Count == 0;
}
