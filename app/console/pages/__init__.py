"""The console's pages, one router per part of the product."""
