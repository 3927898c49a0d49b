# Submit a try-on job
curl -X POST \
  -H "Authorization: Bearer your_api_key_here" \
  -F "person_images=@/path/to/person.jpg" \
  -F "garment_images=@/path/to/garment.jpg" \
  https://your-domain.com/api/v1/tryon
# Check job status
curl -X GET \
  -H "Authorization: Bearer your_api_key_here" \
  https://your-domain.com/api/v1/tryon/status/b16367b3-61a4-40aa-a713-f91889c3dae9
