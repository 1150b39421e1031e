from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('active_learning', '0003_prediction_possible_missed_cells'),
    ]

    operations = [
        migrations.AddField(
            model_name='prediction',
            name='maps',
            field=models.BinaryField(blank=True, editable=False, help_text='Cell probability and flows of the prediction, quantised to int8 in a compressed npz.', null=True),
        ),
    ]
