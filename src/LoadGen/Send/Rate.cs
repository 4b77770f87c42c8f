using Perf.Batch;

namespace Perf.LoadGen.Send;

/// <summary>A rate: packets per second, or bits per second counted over whole IP packets.</summary>
internal readonly record struct Rate(double Value, bool Bits)
{
    internal static readonly Rate Unlimited = new(0, false);

    internal bool IsUnlimited => Value <= 0;

    public override string ToString() => IsUnlimited ? "unlimited" : Bits ? Parsers.FormatSi(Value) + "bps" : Parsers.FormatSi(Value) + "pps";
}
