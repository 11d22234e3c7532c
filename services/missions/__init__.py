"""The missions service: mission catalogue, activities, check-in codes, residents' progress."""
