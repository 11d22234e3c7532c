"""The transit service: validators, fare products and campaigns, taps and trips."""
